//! `backup --consistent` and `dump --consistent`: one cut of a running
//! canister. As a controller: a snapshot taken (between two messages, or
//! with `--stop` after the canister's outstanding calls finished), what an
//! offline run needs downloaded (module and stable memory) into a folder
//! beside the output, the command run offline on it, then the snapshot
//! deleted (unless kept) and the folder removed. A state file beside the
//! output (`<output>.cut.json`) names the snapshot from the moment it is
//! taken, and then whether the offline run finished: a rerun after any
//! interruption goes on with the same snapshot, and one after the run
//! finished only deletes it. A run holds the state file's lock from its
//! start to its end: a second run to the same output at the same time (a
//! scheduled backup that overlaps the last one) is refused before it takes
//! a snapshot, and never deletes the first's.

use super::{download, Management, Parts};
use crate::durable;
use crate::error::{Error, Result};
use crate::lock::Lock;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Serialize, Deserialize)]
struct State {
    network: String,
    canister: String,
    /// The snapshots the canister had before this run took its own: a run
    /// cut short while taking it finds its snapshot as the one new since.
    #[serde(default)]
    before: Vec<String>,
    /// The snapshot taken, once the canister said which.
    snapshot_id: Option<String>,
    /// The offline run wrote its output: what is left is to delete.
    #[serde(default)]
    finished: bool,
}

/// A cut in progress: its snapshot, and the folder the offline run reads.
pub struct Cut {
    pub snapshot_id: Vec<u8>,
    pub folder: PathBuf,
    state: PathBuf,
    /// It went on from an interrupted run.
    pub resumed: bool,
    /// The offline run already finished (an earlier run's): only the
    /// snapshot is left to delete.
    pub finished: bool,
    _lock: Lock,
}

/// How a cut is taken.
#[derive(Clone, Copy, Debug, Default)]
pub struct CutOptions<'a> {
    /// Take the snapshot in place of this one (past the limit of 10).
    pub replace: Option<&'a [u8]>,
    /// Stop the canister around the snapshot.
    pub stop: bool,
    /// Slices in flight while downloading.
    pub parallel: usize,
    pub quiet: bool,
}

fn paths(output: &Path) -> (PathBuf, PathBuf) {
    (
        durable::with_suffix(output, ".cut.json"),
        durable::with_suffix(output, ".cut"),
    )
}

/// Takes the snapshot of a consistent run writing `output` (or, on a rerun,
/// goes on with the one it took) and downloads what the offline run needs.
pub fn prepare(
    management: &mut dyn Management,
    output: &Path,
    options: CutOptions<'_>,
) -> Result<Cut> {
    let (state_path, folder) = paths(output);
    let lock = Lock::state(&state_path, "consistent run")?;
    let network = management.network();
    let canister = management.canister().to_text();
    let earlier = super::folder::load_progress::<State>(&state_path)?;
    if let Some(state) = &earlier {
        if (&state.network, &state.canister) != (&network, &canister) {
            return Err(Error::Input(format!(
                "{} belongs to a consistent run on canister {} of {}: run it again there to finish it (and delete its snapshot), or choose another output",
                state_path.display(),
                state.canister,
                state.network
            )));
        }
    }
    let resumed = earlier.is_some();
    let (snapshot_id, finished) = match earlier {
        Some(State {
            snapshot_id: Some(id),
            finished,
            ..
        }) => (super::parse_id(&id)?, finished),
        Some(State { before, .. }) => match taken_since(management, &before, &state_path)? {
            Some(id) => {
                save_state(&state_path, management, &before, Some(&id), false)?;
                (id, false)
            }
            None => (take(management, &state_path, &before, options)?, false),
        },
        None => {
            let before: Vec<String> = super::list(management)?
                .iter()
                .map(|snapshot| hex::encode(&snapshot.id))
                .collect();
            save_state(&state_path, management, &before, None, false)?;
            (take(management, &state_path, &before, options)?, false)
        }
    };
    let whole = !folder.join(download::PROGRESS).exists() && folder.join("metadata.json").exists();
    if !finished && !whole {
        download(
            management,
            &snapshot_id,
            &folder,
            options.parallel,
            Parts::ModuleAndStable,
            options.quiet,
        )?;
    }
    Ok(Cut {
        snapshot_id,
        folder,
        state: state_path,
        resumed,
        finished,
        _lock: lock,
    })
}

/// Records that the offline run wrote its output.
pub fn ran(management: &dyn Management, cut: &Cut) -> Result<()> {
    save_state(&cut.state, management, &[], Some(&cut.snapshot_id), true)
}

fn save_state(
    path: &Path,
    management: &dyn Management,
    before: &[String],
    id: Option<&[u8]>,
    finished: bool,
) -> Result<()> {
    let state = State {
        network: management.network(),
        canister: management.canister().to_text(),
        before: before.to_vec(),
        snapshot_id: id.map(hex::encode),
        finished,
    };
    super::folder::save_progress(path, &state)
}

/// Takes the cut's snapshot and records it.
fn take(
    management: &mut dyn Management,
    state_path: &Path,
    before: &[String],
    options: CutOptions<'_>,
) -> Result<Vec<u8>> {
    let take = |m: &mut dyn Management| super::take(m, options.replace);
    let taken = if options.stop {
        super::while_stopped(management, take)
    } else {
        take(management)
    };
    let taken = match taken {
        Ok(taken) => taken,
        // Refused: no snapshot was taken, and no run is left to finish.
        Err(error @ Error::Rejected { .. }) => {
            durable::remove(state_path)?;
            return Err(error);
        }
        Err(error) => return Err(error),
    };
    save_state(state_path, management, before, Some(&taken.id), false)?;
    Ok(taken.id)
}

/// The snapshot a run cut short while taking it took: the one the canister
/// has now and did not have `before`; `None` if there is none.
fn taken_since(
    management: &mut dyn Management,
    before: &[String],
    state_path: &Path,
) -> Result<Option<Vec<u8>>> {
    let new: Vec<Vec<u8>> = super::list(management)?
        .into_iter()
        .map(|snapshot| snapshot.id)
        .filter(|id| !before.contains(&hex::encode(id)))
        .collect();
    match new.as_slice() {
        [] => Ok(None),
        [id] => Ok(Some(id.clone())),
        more => Err(Error::Input(format!(
            "the run of {} was cut short while it took its snapshot, and since then {} snapshots were taken ({}): which is its is not known; delete the one it took (`ic-backup snapshot delete <id>`), then remove {} and run again",
            state_path.display(),
            more.len(),
            more.iter().map(hex::encode).collect::<Vec<_>>().join(", "),
            state_path.display()
        ))),
    }
}

/// After the offline run: deletes the snapshot (unless `keep`), then the
/// folder and the state file.
pub fn finish(management: &mut dyn Management, cut: Cut, keep: bool) -> Result<()> {
    if !keep {
        match super::delete(management, &cut.snapshot_id) {
            Ok(()) => {}
            // Deleted by a run cut short after the delete.
            Err(Error::Rejected { message, .. }) if message.contains("IC0305") => {}
            Err(error) => return Err(error),
        }
    }
    if cut.folder.exists() {
        std::fs::remove_dir_all(&cut.folder).map_err(|source| Error::io(&cut.folder, source))?;
    }
    durable::remove(&cut.state)
}

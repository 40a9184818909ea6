//! One module per command: its options (`Args`, as clap reads them) and
//! its `run`, which turns them into the library's operation.

pub mod auth;
pub mod backup;
pub mod call;
pub mod check_upgrade;
pub mod dump;
pub mod inspect;
pub mod load;
pub mod migrate;
pub mod repo;
pub mod restore;
pub mod serve;
pub mod snapshot;
pub mod verify;
pub mod whoami;

use backup_client::connect::{live, with_target, Connection};
use backup_client::error::{Error, Result};
use backup_client::ops::notice;
use backup_client::ops::repo::Origin;
use backup_client::ops::snapshot::consistent::{self, CutOptions};
use backup_client::resume::TargetId;
use backup_client::target::Target;
use std::path::Path;

/// What every command is given besides its own options: where its calls
/// go, and whether it prints JSON.
pub struct Global {
    pub connection: Connection,
    pub json: bool,
}

/// `--parallel`: queries in flight, 1 to 1024.
fn in_flight() -> impl clap::builder::TypedValueParser<Value = usize> {
    clap::builder::TypedValueParser::map(clap::value_parser!(u64).range(1..=1024), |n| n as usize)
}

/// `--format`: the forms of a backup file.
fn format() -> impl clap::builder::TypedValueParser<Value = backup_client::json::Format> {
    use backup_client::json::Format;
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    let values =
        Format::ALL.map(|format| PossibleValue::new(format.name()).help(format.description()));
    PossibleValuesParser::new(values).try_map(|name| {
        Format::from_name(&name).ok_or_else(|| format!("expected a format, found `{name}`"))
    })
}

/// `--consistent` and its options, for `backup` and `dump`.
#[derive(clap::Args, Debug)]
pub struct Consistent {
    /// One cut of the running canister: as a controller, take an IC
    /// snapshot, download its module and stable memory beside the output
    /// (`<output>.cut/`), run offline on that, then delete the snapshot.
    /// Without --stop the cut falls between two messages (a call awaiting
    /// another is in it as its last message left it); with --stop, after
    /// every outstanding call finished. Run again after an interruption, it
    /// goes on with the same snapshot (`<output>.cut.json` names it).
    #[arg(long)]
    pub consistent: bool,
    /// With --consistent: stop the canister around the snapshot (started
    /// again whatever happens).
    #[arg(long, requires = "consistent")]
    pub stop: bool,
    /// With --consistent: keep the snapshot and print its id (`ic-backup
    /// snapshot load <id> --stop` rolls the canister back to it).
    #[arg(long, requires = "consistent")]
    pub keep: bool,
    /// With --consistent: take the snapshot in place of this one (hex), the
    /// way past the IC's limit of 10 snapshots.
    #[arg(long, value_name = "ID", requires = "consistent")]
    pub replace: Option<String>,
}

/// Runs `work` on the target the command line names, or, with
/// `--consistent`, on one cut of the live canister (see [`Consistent`]);
/// `work` is also told where the data comes from (the live canister of a
/// cut, not its folder), for a repository snapshot's tags.
pub fn on_target_or_cut(
    global: &Global,
    consistent: &Consistent,
    output: &Path,
    parallel: usize,
    work: impl FnOnce(&mut dyn Target, &Origin) -> Result<()>,
) -> Result<()> {
    let connection = &global.connection;
    if !consistent.consistent {
        return with_target(connection, |target| {
            let origin = Origin::of(&target.id(), &connection.network, false);
            work(target, &origin)
        });
    }
    if connection.wasm.is_some() || connection.image.is_some() || connection.snapshot.is_some() {
        return Err(Error::Input(
            "--consistent takes a snapshot of a live canister (--canister, --network); an image or a snapshot folder is one cut already".into(),
        ));
    }
    with_cut(global, consistent, output, parallel, |folder, live| {
        let origin = Origin::of(&live, &connection.network, true);
        // Offline on the cut, as `ic-backup --snapshot <folder>` runs.
        let offline = Connection {
            snapshot: Some(folder.to_path_buf()),
            canister: None,
            identity: None,
            pem: None,
            password_file: None,
            ..connection.clone()
        };
        with_target(&offline, |target| work(target, &origin))
    })
    .map(|_| ())
}

/// Runs `work` on the folder of one cut of the live canister (see
/// [`Consistent`]; its state beside `output`; `work` is also given the
/// live canister's id), then deletes the cut's
/// snapshot unless `--keep`; whether `work` ran now, and not in an earlier
/// run cut short after it. An error from `work` leaves the snapshot for a
/// rerun to go on with.
pub fn with_cut(
    global: &Global,
    consistent: &Consistent,
    output: &Path,
    parallel: usize,
    work: impl FnOnce(&Path, TargetId) -> Result<()>,
) -> Result<bool> {
    let mut canister = live(&global.connection)?;
    let replace = consistent
        .replace
        .as_deref()
        .map(backup_client::ops::snapshot::parse_id)
        .transpose()?;
    let options = CutOptions {
        replace: replace.as_deref(),
        stop: consistent.stop,
        parallel,
        quiet: global.json,
    };
    let cut = consistent::prepare(&mut canister, output, options)?;
    let id = backup_client::ops::snapshot::show_id(&cut.snapshot_id);
    if cut.resumed {
        notice(
            global.json,
            &format!("going on with snapshot {id}, taken by an earlier run"),
        );
    }
    let runs = !cut.finished;
    if runs {
        work(&cut.folder, canister.id())?;
        consistent::ran(&canister, &cut)?;
    }
    consistent::finish(&mut canister, cut, consistent.keep)?;
    if consistent.keep {
        notice(
            global.json,
            &format!("kept snapshot {id}: `ic-backup snapshot load {id} --stop` rolls the canister back to this cut"),
        );
    }
    Ok(runs)
}

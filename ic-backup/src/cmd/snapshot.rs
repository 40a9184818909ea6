//! `ic-backup snapshot`.

use super::Global;
use backup_client::connect::live;
use backup_client::error::{Error, Result};
use backup_client::ops::repo::{fetch_all, save_folder, Origin};
use backup_client::ops::snapshot::{self, Management, Parts};
use backup_client::ops::{notice, output};
use backup_client::target::Target;
use std::path::PathBuf;

/// IC snapshots: take, list, delete, load, download, upload
///
/// For the canister's controllers (listing also for whom its
/// `snapshot_visibility` names). A folder is what `icp canister snapshot
/// download` and `dfx canister snapshot download` write, so it moves
/// between the three tools. Downloads and uploads keep many slices in
/// flight, stream from and to disk, resume when run again after any
/// interruption, and verify what they moved. Against `ic-backup serve`
/// they work offline too.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  ic-backup --canister backend snapshot take --stop\n  ic-backup --canister backend snapshot list\n  ic-backup --canister backend snapshot download 0000000000000000800000000010000101 -o ./snapshot\n  ic-backup --snapshot ./snapshot backup profiles -o profiles.json\n  ic-backup --canister backend snapshot upload ./snapshot\n  ic-backup --canister backend snapshot load <new id> --stop"
)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand, Debug)]
enum Action {
    /// Take a snapshot of the canister (running: between two messages)
    Take {
        /// Stop the canister first (its outstanding calls finish) and start
        /// it again after, whatever happens.
        #[arg(long)]
        stop: bool,
        /// Take it in place of this snapshot (hex), which goes once the new
        /// one is made: the way past the limit of 10.
        #[arg(long, value_name = "ID")]
        replace: Option<String>,
    },
    /// List the canister's snapshots
    List,
    /// Delete a snapshot
    Delete {
        /// The snapshot id (hex).
        id: String,
    },
    /// Load a snapshot onto the canister: module, heap, stable memory,
    /// certified data and chunk store become the snapshot's
    Load {
        /// The snapshot id (hex).
        id: String,
        /// Stop the canister first and start it again after, whatever
        /// happens.
        #[arg(long)]
        stop: bool,
    },
    /// Download a snapshot into a folder, as dfx and icp-cli do, or into a
    /// restic repository (--repo: the folder's files as one repository
    /// snapshot tagged `kind=snapshot`, staged in ~/.cache/ic-backup)
    #[command(group = clap::ArgGroup::new("into").required(true).args(["output", "repo"]))]
    Download {
        /// The snapshot id (hex).
        id: String,
        /// The folder: new, empty, or an unfinished download of the same
        /// snapshot (run again, it goes on from where it stopped).
        #[arg(short, long)]
        output: Option<PathBuf>,
        #[command(flatten)]
        repo: super::repo::RepoArgs,
        /// Slices (of at most 2,000,000 bytes) in flight at once.
        #[arg(long, default_value_t = 16, value_parser = super::in_flight())]
        parallel: usize,
    },
    /// Upload a snapshot folder as a new snapshot; prints its id. With
    /// --repo the folder comes from a restic repository (the canister's
    /// latest `snapshot download --repo`, or --repo-snapshot <id>)
    #[command(group = clap::ArgGroup::new("from").required(true).args(["dir", "repo"]))]
    Upload {
        /// The folder, as dfx, icp-cli or `snapshot download` wrote it.
        dir: Option<PathBuf>,
        #[command(flatten)]
        repo: super::repo::RepoArgs,
        /// With --repo: the repository snapshot, `latest` or an id.
        #[arg(long, value_name = "ID", default_value = "latest", requires = "repo")]
        repo_snapshot: String,
        /// Upload it in place of this snapshot (hex).
        #[arg(long, value_name = "ID")]
        replace: Option<String>,
        /// Slices in flight at once.
        #[arg(long, default_value_t = 16, value_parser = super::in_flight())]
        parallel: usize,
    },
}

pub fn run(args: Args, global: &Global) -> Result<()> {
    let connection = &global.connection;
    if connection.wasm.is_some() || connection.image.is_some() || connection.snapshot.is_some() {
        return Err(Error::Input(
            "snapshots are the IC's: `snapshot` talks to a live canister's management canister (--canister, --network); to work on an image, serve it (`ic-backup serve`) and point --network at the server".into(),
        ));
    }
    let mut canister = live(connection)?;
    let management: &mut dyn Management = &mut canister;
    let json = global.json;
    let id_of = |text: &str| snapshot::parse_id(text);
    match args.action {
        Action::Take { stop, replace } => {
            let replace = replace.as_deref().map(id_of).transpose()?;
            let take = |m: &mut dyn Management| snapshot::take(m, replace.as_deref());
            let taken = if stop {
                snapshot::while_stopped(management, take)?
            } else {
                take(management)?
            };
            let id = snapshot::show_id(&taken.id);
            output(
                json,
                serde_json::json!({
                    "snapshot_id": id,
                    "taken_at_timestamp": taken.taken_at_timestamp,
                    "total_size": taken.total_size,
                }),
                || id.clone(),
            );
        }
        Action::List => {
            let snapshots = snapshot::list(management)?;
            let list: Vec<serde_json::Value> = snapshots
                .iter()
                .map(|s| {
                    serde_json::json!({
                        "snapshot_id": snapshot::show_id(&s.id),
                        "taken_at_timestamp": s.taken_at_timestamp,
                        "total_size": s.total_size,
                    })
                })
                .collect();
            output(json, serde_json::json!({ "snapshots": list }), || {
                if snapshots.is_empty() {
                    return "no snapshots".to_string();
                }
                snapshots
                    .iter()
                    .map(|s| {
                        format!(
                            "{}  {} bytes, taken at {} ns",
                            snapshot::show_id(&s.id),
                            s.total_size,
                            s.taken_at_timestamp
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        Action::Delete { id } => {
            snapshot::delete(management, &id_of(&id)?)?;
            notice(json, &format!("deleted snapshot {id}"));
        }
        Action::Load { id, stop } => {
            let bytes = id_of(&id)?;
            let load = |m: &mut dyn Management| snapshot::load(m, &bytes);
            if stop {
                snapshot::while_stopped(management, load)?;
            } else {
                load(management)?;
            }
            notice(json, &format!("loaded snapshot {id}"));
        }
        Action::Download {
            id,
            output: dir,
            repo,
            parallel,
        } => {
            let repo = repo.open()?;
            let dir = match (&repo, dir) {
                (Some(_), _) => super::repo::staging(global, &format!("snapshot-{id}"))?,
                (None, Some(dir)) => dir,
                (None, None) => return Err(Error::Input("expected -o <folder> or --repo".into())),
            };
            let done =
                snapshot::download(management, &id_of(&id)?, &dir, parallel, Parts::All, json)?;
            // Into a repository, what is printed is the repository's snapshot.
            backup_client::ops::set_quiet(repo.is_some());
            output(
                json,
                serde_json::json!({
                    "snapshot_id": id,
                    "folder": dir.display().to_string(),
                    "bytes": done.bytes,
                    "calls": done.calls,
                    "resumed": done.resumed,
                    "already": done.already,
                }),
                || {
                    match done.already {
                    true => format!(
                        "{} already holds snapshot {id} whole (an earlier download finished it): nothing to download",
                        dir.display()
                    ),
                    false => format!(
                        "downloaded snapshot {id} into {} ({} bytes in {} calls{}), verified",
                        dir.display(),
                        done.bytes,
                        done.calls,
                        if done.resumed { ", resumed" } else { "" }
                    ),
                }
                },
            );
            backup_client::ops::set_quiet(false);
            if let Some(repo) = &repo {
                let mut origin = Origin::of(&canister.id(), &connection.network, true);
                // The module the snapshot holds, as the IC hashes it.
                let module = backup_client::snapshot::Snapshot::open(&dir)?.wasm();
                let bytes = std::fs::read(&module).map_err(|source| Error::io(&module, source))?;
                origin.module = Some(backup_client::ops::sha256_hex(&bytes));
                let tags = [format!("snapshot={id}")];
                save_folder(repo, &origin, "snapshot", &tags, &dir, json)?;
                std::fs::remove_dir_all(&dir).map_err(|source| Error::io(&dir, source))?;
            }
        }
        Action::Upload {
            dir,
            repo,
            repo_snapshot,
            replace,
            parallel,
        } => {
            let replace = replace.as_deref().map(id_of).transpose()?;
            let (dir, staged) = match (repo.open()?, dir) {
                (Some(repo), _) => {
                    let origin = Origin::of(&canister.id(), &connection.network, true);
                    let found =
                        super::repo::find(&repo, &repo_snapshot, || Ok(origin.group("snapshot")))?;
                    let staged = super::repo::staging(
                        global,
                        &format!("upload-{}", backup_repo::short(&found.id)),
                    )?;
                    fetch_all(&repo, &found, &staged)?;
                    (staged, true)
                }
                (None, Some(dir)) => (dir, false),
                (None, None) => return Err(Error::Input("expected a folder or --repo".into())),
            };
            let management: &mut dyn Management = &mut canister;
            let id = snapshot::upload(management, &dir, replace.as_deref(), parallel, json)?;
            if staged {
                std::fs::remove_dir_all(&dir).map_err(|source| Error::io(&dir, source))?;
            }
            let id = snapshot::show_id(&id);
            output(json, serde_json::json!({ "snapshot_id": id }), || {
                id.clone()
            });
        }
    }
    Ok(())
}

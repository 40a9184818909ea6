//! `ic-backup repo`, and `--repo` as the commands that keep backups in a
//! restic repository take it.

use super::Global;
use backup_client::error::{Error, Result};
use backup_client::ops::output;
use backup_repo::{Chunker, Repo};
use serde_json::json;
use std::path::PathBuf;

/// Where the repository is, as `dump`, `backup`, `load` and the others take it.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct RepoArgs {
    /// Keep the result in (or read it from) this restic repository: a
    /// folder, `rest:http://host:8000/`, `rclone:remote:path`, or alone
    /// (`--repo`) the one `RESTIC_REPOSITORY` names.
    #[arg(long, value_name = "LOCATION", num_args = 0..=1, default_missing_value = "")]
    pub repo: Option<String>,
    /// The repository's password, on the first line of this file; else
    /// `RESTIC_PASSWORD_FILE`, else `RESTIC_PASSWORD`, else asked at a
    /// terminal.
    #[arg(long, value_name = "FILE")]
    pub repo_password_file: Option<PathBuf>,
}

impl RepoArgs {
    /// The repository, opened, if `--repo` was given.
    pub fn open(&self) -> Result<Option<Repo>> {
        self.repo
            .as_deref()
            .map(|location| {
                backup_client::ops::repo::open(Some(location), self.repo_password_file.as_deref())
            })
            .transpose()
    }
}

/// A place in the user's cache folder (`$XDG_CACHE_HOME/ic-backup`, else
/// `~/.cache/ic-backup`) for what a command into or from a repository keeps
/// on disk: the folder of a consistent cut and the snapshot it goes on with
/// after an interruption, a file staged between the canister and the
/// repository. One place per `what`, network and canister, so that a rerun
/// finds it.
pub fn cache_path(global: &Global, what: &str) -> Result<PathBuf> {
    let cache = backup_common::dirs::user_cache_dir().ok_or_else(|| {
        Error::Input(
            "expected HOME or XDG_CACHE_HOME, for the files a command into or from a repository keeps".into(),
        )
    })?;
    let connection = &global.connection;
    let source = match (
        &connection.canister,
        &connection.image,
        &connection.snapshot,
    ) {
        (Some(canister), _, _) => format!("{}-{canister}", connection.network),
        (None, Some(image), _) => format!("offline-{}", image.display()),
        (None, None, Some(folder)) => format!("offline-{}", folder.display()),
        (None, None, None) => "none".to_string(),
    };
    let name = backup_client::ops::repo::file_name_safe(&format!("{what}-{source}"));
    let folder = cache.join("ic-backup");
    std::fs::create_dir_all(&folder).map_err(|source| Error::io(&folder, source))?;
    Ok(folder.join(name))
}

/// A folder of [`cache_path`], created.
pub fn staging(global: &Global, what: &str) -> Result<PathBuf> {
    let folder = cache_path(global, what)?;
    std::fs::create_dir_all(&folder).map_err(|source| Error::io(&folder, source))?;
    Ok(folder)
}

/// The snapshot of `repo` that `--repo-snapshot` names: `latest` among
/// those with the tags `latest_tags` gives (asked only for `latest`), or an
/// id (any snapshot).
pub fn find(
    repo: &Repo,
    spec: &str,
    latest_tags: impl FnOnce() -> Result<Vec<String>>,
) -> Result<backup_repo::Snapshot> {
    let tags = if spec == "latest" {
        latest_tags()?
    } else {
        Vec::new()
    };
    Ok(repo.find(spec, &tags)?)
}

/// Create a restic repository, list its snapshots
///
/// ic-backup keeps dumps, typed backups and snapshot folders in restic
/// repositories (`--repo`): deduplicated, encrypted, read by restic itself.
/// `restic forget`, `restic prune` and `restic check` keep and check them.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  ic-backup repo init --repo /backups/ic --repo-password-file pw\n  ic-backup --canister backend dump --repo /backups/ic --consistent\n  ic-backup repo snapshots --repo /backups/ic --tag canister=ryjl3-tyaaa-aaaaa-aaaba-cai\n  restic -r /backups/ic forget --tag kind=dump --group-by host,paths --keep-daily 7 --keep-weekly 5 --prune\n  restic -r /backups/ic check --read-data"
)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Create a repository. Its files are cut into fixed 64 KiB chunks,
    /// the blocks of a dump, so that a changed block costs one chunk
    /// (restic reads such repositories, and ic-backup writes into any).
    Init {
        #[command(flatten)]
        repo: RepoArgs,
        /// restic's own content-defined chunks (about 1 MiB each) instead.
        #[arg(long)]
        rabin: bool,
    },
    /// List the repository's snapshots, oldest first.
    Snapshots {
        #[command(flatten)]
        repo: RepoArgs,
        /// Only the snapshots with this tag (repeatable: all of them),
        /// such as `kind=dump` or `canister=<id>`.
        #[arg(long, value_name = "TAG")]
        tag: Vec<String>,
    },
}

pub fn run(args: Args, global: &Global) -> Result<()> {
    match args.command {
        Command::Init { repo, rabin } => {
            let access = backup_client::ops::repo::access(
                Some(repo.repo.as_deref().unwrap_or_default()),
                repo.repo_password_file.as_deref(),
            )?;
            let chunker = if rabin {
                Chunker::Rabin
            } else {
                Chunker::Fixed
            };
            Repo::init(&access, chunker)?;
            output(
                global.json,
                json!({ "repository": access.location, "chunker": if rabin { "rabin" } else { "fixed 64 KiB" } }),
                || format!("created a restic repository at {}", access.location),
            );
        }
        Command::Snapshots { repo, tag } => {
            let location = repo.repo.as_deref().unwrap_or_default();
            let opened =
                backup_client::ops::repo::open(Some(location), repo.repo_password_file.as_deref())?;
            let snapshots = opened.snapshots(&tag)?;
            let listed: Vec<_> = snapshots
                .iter()
                .map(|snapshot| {
                    json!({
                        "id": snapshot.id,
                        "time": snapshot.time,
                        "host": snapshot.host,
                        "paths": snapshot.paths,
                        "tags": snapshot.tags,
                        "data_added": snapshot.data_added,
                    })
                })
                .collect();
            output(global.json, json!(listed), || {
                let mut text = format!("{:<8}  {:<25}  {:<10}  tags\n", "id", "time", "network");
                for snapshot in &snapshots {
                    text.push_str(&format!(
                        "{:<8}  {:<25}  {:<10}  {}\n",
                        backup_repo::short(&snapshot.id),
                        snapshot.time,
                        snapshot.host,
                        snapshot.tags.join(",")
                    ));
                }
                text.push_str(&format!("{} snapshots", snapshots.len()));
                text
            });
        }
    }
    Ok(())
}

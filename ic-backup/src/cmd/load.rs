//! `ic-backup load`.

use super::Global;
use backup_client::connect::with_target;
use backup_client::error::{Error, Result};
use backup_client::ops::raw::{load, Image, ImageFile, LoadOptions};
use backup_client::ops::repo::{Origin, RepoImage};
use std::path::PathBuf;

/// Write an image back to stable memory
///
/// Sends only the blocks whose digest differs from the canister's (or
/// from `--base`), then verifies. The image is a file (`-i`), or a dump in
/// a restic repository (`--repo`, the canister's latest unless
/// `--repo-snapshot` names another), read from it block by block.
/// The file must be a MemoryManager image whose maps match the
/// canister's (unless --force); it says what it will change and asks
/// first (unless --yes). Upgrade the canister afterwards: its typed
/// endpoints refuse until its heap reads the new memory.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  ic-backup load -i repaired.dat\n  ic-backup load -i repaired.dat --base stable_memory.dat --yes\n  ic-backup --canister backend load --repo /backups/ic --repo-snapshot 4f1c2a9e",
    group = clap::ArgGroup::new("from").required(true).args(["input", "repo"])
)]
pub struct Args {
    /// The image file.
    #[arg(short, long)]
    input: Option<PathBuf>,
    #[command(flatten)]
    repo: super::repo::RepoArgs,
    /// With --repo: the repository snapshot, `latest` (the canister's
    /// latest dump on this network) or an id.
    #[arg(long, value_name = "ID", default_value = "latest", requires = "repo")]
    repo_snapshot: String,
    /// Compare with this image (the one the repair started from) instead
    /// of asking the canister for digests.
    #[arg(long)]
    base: Option<PathBuf>,
    /// The block size compared and written.
    #[arg(long, default_value_t = 64 * 1024)]
    block_bytes: u64,
    /// Load a file that is not a MemoryManager image, or whose maps
    /// (memory ids, key and value layout) differ from the canister's.
    #[arg(long)]
    force: bool,
    /// Do not ask for confirmation (required when not at a terminal).
    #[arg(long, short = 'y')]
    yes: bool,
}

pub fn run(args: Args, global: &Global) -> Result<()> {
    let repo = args.repo.open()?;
    with_target(&global.connection, |target| {
        let file;
        let in_repo;
        let input: &dyn Image = match (&repo, &args.input) {
            (Some(repo), _) => {
                let origin = Origin::of(&target.id(), &global.connection.network, false);
                let snapshot =
                    super::repo::find(repo, &args.repo_snapshot, || Ok(origin.group("dump")))?;
                in_repo = RepoImage::open(repo, &snapshot)?;
                &in_repo
            }
            (None, Some(path)) => {
                file = ImageFile::open(path)?;
                &file
            }
            (None, None) => return Err(Error::Input("expected -i <image> or --repo".into())),
        };
        load(
            target,
            LoadOptions {
                input,
                base: args.base.as_deref(),
                block: args.block_bytes,
                force: args.force,
                yes: args.yes,
                json: global.json,
            },
        )
    })
}

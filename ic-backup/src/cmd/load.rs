//! `ic-backup load`.

use super::Global;
use backup_client::connect::with_target;
use backup_client::error::Result;
use backup_client::ops::raw::{load, LoadOptions};
use std::path::PathBuf;

/// Write an image back to stable memory
///
/// Sends only the blocks whose digest differs from the canister's (or
/// from `--base`), then verifies.
/// The file must be a MemoryManager image whose maps match the
/// canister's (unless --force); it says what it will change and asks
/// first (unless --yes). Upgrade the canister afterwards: its typed
/// endpoints refuse until its heap reads the new memory.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  ic-backup load -i repaired.dat\n  ic-backup load -i repaired.dat --base stable_memory.dat --yes"
)]
pub struct Args {
    #[arg(short, long)]
    input: PathBuf,
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
    with_target(&global.connection, |target| {
        load(
            target,
            LoadOptions {
                input: &args.input,
                base: args.base.as_deref(),
                block: args.block_bytes,
                force: args.force,
                yes: args.yes,
                json: global.json,
            },
        )
    })
}

//! `ic-backup dump`.

use super::Global;
use backup_client::error::Result;
use backup_client::ops::raw::dump;
use std::path::PathBuf;

/// Dump raw stable memory to an image file
///
/// With parallel `stable_read` queries, resumable, with a SHA-256
/// manifest beside it.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  ic-backup dump -o stable_memory.dat --parallel 16\n  ic-backup --canister backend dump -o stable_memory.dat --consistent --stop"
)]
pub struct Args {
    #[arg(short, long)]
    output: PathBuf,
    /// Queries in flight at once.
    #[arg(long, default_value_t = 16, value_parser = super::in_flight())]
    parallel: usize,
    /// Bytes per `stable_read` (at most 1.9375 MiB, the default).
    #[arg(long, default_value_t = backup_runtime::limits::MAX_RAW_READ)]
    chunk_bytes: u64,
    /// Stop after this many chunks, as if interrupted (for tests).
    #[cfg_attr(feature = "test-hooks", arg(long, hide = true))]
    #[cfg_attr(not(feature = "test-hooks"), arg(skip))]
    stop_after: Option<usize>,
    #[command(flatten)]
    consistent: super::Consistent,
}

pub fn run(args: Args, global: &Global) -> Result<()> {
    super::on_target_or_cut(
        global,
        &args.consistent,
        &args.output,
        args.parallel,
        |target| {
            dump(
                target,
                &args.output,
                args.parallel,
                args.chunk_bytes,
                args.stop_after,
                global.json,
            )
        },
    )
}

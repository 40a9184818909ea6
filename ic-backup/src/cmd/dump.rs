//! `ic-backup dump`.

use super::Global;
use backup_client::error::Result;
use backup_client::ops::raw::dump;
use backup_client::ops::repo::dump_into;
use std::path::PathBuf;

/// Dump raw stable memory to an image file or a restic repository
///
/// With parallel `stable_read` queries, resumable, with a SHA-256
/// manifest beside it. With --repo, the image and its manifest go into one
/// repository snapshot, and only the 64 KiB blocks whose digest differs
/// from the repository's previous dump of the canister are downloaded
/// (the rest is taken from that dump); every block is checked against the
/// canister's digest, and an interrupted dump leaves no snapshot.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  ic-backup dump -o stable_memory.dat --parallel 16\n  ic-backup --canister backend dump -o stable_memory.dat --consistent --stop\n  ic-backup --canister backend dump --repo /backups/ic --repo-password-file pw --consistent",
    group = clap::ArgGroup::new("into").required(true).args(["output", "repo"])
)]
pub struct Args {
    /// The image file to write (its manifest goes beside it).
    #[arg(short, long)]
    output: Option<PathBuf>,
    #[command(flatten)]
    repo: super::repo::RepoArgs,
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
    if let Some(repo) = args.repo.open()? {
        let state = super::repo::cache_path(global, "dump")?;
        return super::on_target_or_cut(
            global,
            &args.consistent,
            &state,
            args.parallel,
            |target, origin| {
                dump_into(
                    target,
                    &repo,
                    origin,
                    args.parallel,
                    args.chunk_bytes,
                    global.json,
                )
            },
        );
    }
    let output = args.output.unwrap_or_default();
    super::on_target_or_cut(
        global,
        &args.consistent,
        &output,
        args.parallel,
        |target, _| {
            dump(
                target,
                &output,
                args.parallel,
                args.chunk_bytes,
                args.stop_after,
                global.json,
            )
        },
    )
}

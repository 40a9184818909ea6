//! `ic-backup verify`.

use super::Global;
use backup_client::connect::with_target;
use backup_client::error::Result;
use backup_client::ops::raw::verify;
use std::path::PathBuf;

/// Compare the canister's stable memory with a dump's manifest
#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  ic-backup verify --manifest stable_memory.dat.sha256")]
pub struct Args {
    #[arg(long)]
    manifest: PathBuf,
}

pub fn run(args: Args, global: &Global) -> Result<()> {
    with_target(&global.connection, |target| {
        verify(target, &args.manifest, global.json)
    })
}

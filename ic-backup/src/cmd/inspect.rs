//! `ic-backup inspect`: reads a file, needs no canister.

use super::Global;
use backup_client::error::Result;
use backup_client::ops::raw::inspect;
use std::path::PathBuf;

/// Show what an image or snapshot folder holds
///
/// Its MemoryManager layout, and the structure found in each memory
/// (StableBTreeMaps with their layout and length).
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  ic-backup inspect stable_memory.bin\n  ic-backup inspect ./snapshot"
)]
pub struct Args {
    image: PathBuf,
}

pub fn run(args: Args, global: &Global) -> Result<()> {
    inspect(&args.image, global.json)
}

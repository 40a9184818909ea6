//! `ic-backup inspect`: reads a file, needs no canister.

use super::Global;
use backup_client::error::Result;
use backup_client::ops::raw::inspect;
use std::path::PathBuf;

/// Show what an image or snapshot folder holds
///
/// Its MemoryManager layout, and the structure found in each memory: a
/// StableBTreeMap (its layout version and length), a StableVec or
/// StableMinHeap (elements, their largest size), a StableCell (its value's
/// size), a StableLog's index (entries) and data.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  ic-backup inspect stable_memory.bin\n  ic-backup inspect ./snapshot\n  ic-backup inspect ./snapshot --layout > layout.toml\n  ic-backup inspect stable_memory.bin --layout --module backend.wasm"
)]
pub struct Args {
    /// An image (stable memory) or a snapshot folder.
    image: PathBuf,
    /// Print a layout file for `backup --layout` instead: a derived
    /// canister's own (its module's metadata, from the snapshot folder or
    /// --wasm), else each memory's structure by its magic with `?` where
    /// the types of its keys and values go.
    #[arg(long)]
    layout: bool,
    /// With --layout and an image: the canister's wasm module, whose
    /// metadata a derived canister's layout is in (a snapshot folder has
    /// its own).
    #[arg(long, value_name = "WASM", requires = "layout")]
    module: Option<PathBuf>,
}

pub fn run(args: Args, global: &Global) -> Result<()> {
    inspect(
        &args.image,
        args.layout,
        args.module.as_deref().or(global.connection.wasm.as_deref()),
        global.json,
    )
}

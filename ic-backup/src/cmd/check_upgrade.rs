//! `ic-backup check-upgrade`.

use super::Global;
use backup_client::connect::operator;
use backup_client::error::{Error, Result};
use backup_client::ops::upgrade::{check_upgrade, CheckUpgrade};
use std::path::PathBuf;

/// Check on a copy that a new module reads every value held
///
/// Offline, over an image (`--wasm <current module> --image <image>`) or a
/// snapshot folder (`--snapshot <folder>`, for a live canister: `ic-backup
/// snapshot take` and `snapshot download` first). On a copy of the stable
/// memory: the upgrade hooks (the current module's `pre_upgrade`, the new
/// one's `post_upgrade`), then every value of every map decoded as the new
/// module's types (each one that does not decode named by map and key),
/// every map read to its end through the new module's own pages, and the
/// types' changes. Nothing is written to the image or the folder. Exits 3
/// when the upgrade would trap or a value would not decode.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  ic-backup --wasm v1.wasm --image stable_memory.bin check-upgrade v2.wasm\n  ic-backup --snapshot ./snapshot check-upgrade v2.wasm"
)]
pub struct Args {
    /// The module to upgrade to (`.wasm`, or `.wasm.gz`).
    new_module: PathBuf,
}

pub fn run(args: Args, global: &Global) -> Result<()> {
    let connection = &global.connection;
    let (current, image) = match (&connection.snapshot, &connection.wasm, &connection.image) {
        (Some(dir), _, _) => (dir.join("wasm_module.bin"), dir.join("stable_memory.bin")),
        (None, Some(wasm), Some(image)) => (wasm.clone(), image.clone()),
        _ => {
            return Err(Error::Input(
                "check-upgrade runs offline: give --wasm <the current module> --image <its stable memory image>, or --snapshot <folder> (for a live canister, `ic-backup snapshot take` and `ic-backup snapshot download <id> -o <folder>` first)".into(),
            ))
        }
    };
    if !image.is_file() {
        return Err(Error::Input(format!(
            "expected the canister's stable memory at {}, found no file",
            image.display()
        )));
    }
    check_upgrade(CheckUpgrade {
        current: &current,
        image: &image,
        new: &args.new_module,
        operator: operator(connection)?,
        json: global.json,
    })
}

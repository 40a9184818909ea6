//! `ic-backup check-upgrade`.

use super::Global;
use backup_client::connect::operator;
use backup_client::error::{Error, Result};
use backup_client::ops::notice;
use backup_client::ops::upgrade::{check_upgrade, CheckUpgrade};
use std::path::PathBuf;

/// Check on a copy that a new module reads every value held
///
/// Over a live canister (as a controller: one cut of it, an IC snapshot
/// taken, its module and stable memory downloaded beside the new module as
/// `<new module>.check.cut/`, and the snapshot deleted after, also when a
/// run cut short is run again), or offline over an image (`--wasm <current
/// module> --image <image>`) or a snapshot folder (`--snapshot`). On a copy of the stable
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
    /// Live: stop the canister for the cut (after its outstanding calls),
    /// and start it again after, whatever happens.
    #[arg(long)]
    stop: bool,
    /// Live: slices of the snapshot downloaded at once.
    #[arg(long, default_value_t = 16, value_parser = super::in_flight())]
    parallel: usize,
}

pub fn run(args: Args, global: &Global) -> Result<()> {
    let connection = &global.connection;
    let (current, image) = match (&connection.snapshot, &connection.wasm, &connection.image) {
        (Some(dir), _, _) => (dir.join("wasm_module.bin"), dir.join("stable_memory.bin")),
        (None, Some(wasm), Some(image)) => (wasm.clone(), image.clone()),
        (None, None, None) => return on_a_cut(args, global),
        _ => {
            return Err(Error::Input(
                "check-upgrade offline needs both --wasm <the current module> and --image <its stable memory image> (or --snapshot <folder>)".into(),
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

/// The check on one cut of the live canister: the snapshot taken and
/// downloaded (`<new module>.check.cut/`, its state in
/// `<new module>.check.cut.json`), the check run on it, the snapshot
/// deleted. A run cut short goes on with the same snapshot when run again.
fn on_a_cut(args: Args, global: &Global) -> Result<()> {
    let mut output = args.new_module.clone().into_os_string();
    output.push(".check");
    let cut = super::Consistent {
        consistent: true,
        stop: args.stop,
        keep: false,
        replace: None,
    };
    // A verdict either way: a module that cannot read everything is the
    // check's answer, and the cut has served (its snapshot goes).
    let mut verdict = Ok(());
    let checked_now = super::with_cut(
        global,
        &cut,
        &PathBuf::from(output),
        args.parallel,
        |folder, _| {
            let checked = check_upgrade(CheckUpgrade {
                current: &folder.join("wasm_module.bin"),
                image: &folder.join("stable_memory.bin"),
                new: &args.new_module,
                operator: operator(&global.connection)?,
                json: global.json,
            });
            match checked {
                Err(Error::Mismatch(why)) => {
                    verdict = Err(Error::Mismatch(why));
                    Ok(())
                }
                other => other,
            }
        },
    )?;
    if !checked_now {
        notice(
            global.json,
            "an earlier run checked this cut (its report was printed then); its snapshot is deleted",
        );
    }
    verdict
}

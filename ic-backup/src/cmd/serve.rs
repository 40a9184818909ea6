//! `ic-backup serve`.

use super::Global;
use backup_client::connect::offline;
use backup_client::error::{Error, Result};
use backup_client::target::Folding;
use backup_serve::{Faults, Options};
use std::time::Duration;

/// Serve the offline canister over the IC's HTTP interface
///
/// The canister of --wasm and --image, or --snapshot, so that dfx,
/// icp-cli, ic-agent, agent-js and ic-backup itself can call it as on a
/// local replica: one
/// canister, on one subnet whose keys are drawn the first time and
/// kept beside the image (`<image>.subnet`), so clients configured
/// with its root key keep working across restarts. Requests are
/// verified as the IC verifies them; each call is in the write-ahead
/// log beside the image (`<image>.wal`) before it is reported, and a
/// call sent again is answered from its status, never run twice.
/// While it runs, no other command may open the image. Ctrl-C stops
/// the server (twice: at once; the log keeps every reply).
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  ic-backup --wasm profiles.wasm --image stable_memory.bin serve --port 4944\n  ic-backup --snapshot ./snapshot serve --controller $(dfx identity get-principal)\n  # then, in another terminal:\n  dfx canister call --network http://127.0.0.1:4944 rrkah-fqaaa-aaaaa-aaaaq-cai profile_count\n  ic-backup --network http://127.0.0.1:4944 --canister rrkah-fqaaa-aaaaa-aaaaq-cai backup profiles -o p.json"
)]
pub struct Args {
    /// The port on 127.0.0.1 (0: a free one, printed at start).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Draw new subnet keys instead of those kept beside the image:
    /// clients must then be given the new root key.
    #[arg(long)]
    new_keys: bool,
    /// How often the write-ahead log is folded into the image, in
    /// seconds (also when it reaches 256 MiB, and at stop).
    #[arg(long, default_value_t = 30.0, value_parser = fold_interval)]
    fold_interval: f64,
    /// Answer every Nth query with 502, as a failing boundary node does (for tests).
    #[cfg_attr(feature = "test-hooks", arg(long, hide = true))]
    #[cfg_attr(not(feature = "test-hooks"), arg(skip))]
    fail_queries: Option<u64>,
    /// Hold every Nth query for 30 s before answering it (for tests).
    #[cfg_attr(feature = "test-hooks", arg(long, hide = true))]
    #[cfg_attr(not(feature = "test-hooks"), arg(skip))]
    stall_queries: Option<u64>,
}

fn fold_interval(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && (0.01..=86_400.0).contains(&seconds) => Ok(seconds),
        _ => Err(format!(
            "expected a number of seconds from 0.01 to 86400, found `{text}`"
        )),
    }
}

pub fn run(args: Args, global: &Global) -> Result<()> {
    let connection = &global.connection;
    let describe = match (&connection.snapshot, &connection.wasm, &connection.image) {
        (Some(dir), _, _) => format!("snapshot {}", dir.display()),
        (None, Some(wasm), Some(image)) => format!("{} over {}", wasm.display(), image.display()),
        _ => {
            return Err(Error::Input(
                "expected --wasm <module> and --image <image>, or --snapshot <folder>, to serve"
                    .into(),
            ))
        }
    };
    let options = Options {
        port: args.port,
        new_keys: args.new_keys,
        folding: Folding {
            every: Duration::from_secs_f64(args.fold_interval),
            ..Folding::default()
        },
        faults: Faults {
            fail_every: args.fail_queries,
            stall_every: args.stall_queries,
        },
        json: global.json,
    };
    let target = offline(connection)?.ok_or_else(|| Error::Input("nothing to serve".into()))?;
    backup_serve::serve(target, &describe, options)
}

//! `ic-backup whoami`.

use super::Global;
use backup_client::connect::principal;
use backup_client::error::Result;

/// Print the principal calls are made as
///
/// The identity named, else the project's tool's default (offline
/// without one, the fixed offline operator). Add it to a canister's
/// admin set with `auth add`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  ic-backup auth add $(ic-backup --identity admin whoami)")]
pub struct Args {}

pub fn run(_: Args, global: &Global) -> Result<()> {
    let principal = principal(&global.connection)?;
    if global.json {
        println!(
            "{}",
            serde_json::json!({ "principal": principal.to_text() })
        );
    } else {
        println!("{principal}");
    }
    Ok(())
}

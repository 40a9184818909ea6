//! `ic-backup call`.

use super::Global;
use backup_client::connect::with_target;
use backup_client::error::Result;
use backup_client::interface::Interface;
use backup_client::ops::call::call;

/// Call any method with Candid text arguments
///
/// Prints the reply as Candid text.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  ic-backup call profile_count\n  ic-backup call get_profile_of '(principal \"aaaaa-aa\")'"
)]
pub struct Args {
    method: String,
    /// The arguments in Candid text, e.g. `(42, \"text\")`.
    #[arg(default_value = "()")]
    args: String,
}

pub fn run(args: Args, global: &Global) -> Result<()> {
    with_target(&global.connection, |target| {
        // Without an interface, the arguments are sent as typed in the
        // text and the call is an update.
        let interface = Interface::of(target, global.connection.did.as_deref()).ok();
        call(target, interface.as_ref(), &args.method, &args.args)
    })
}

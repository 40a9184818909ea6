//! `ic-backup auth`.

use super::Global;
use backup_client::connect::with_target;
use backup_client::error::Result;
use backup_client::ops::auth::{self, Action};

/// Manage who may back up and restore, or touch raw memory
///
/// The admin set may back up and restore typed data; `--raw` names who
/// may read and write raw stable memory (that set is emptied by every
/// upgrade).
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  ic-backup auth add aaaaa-aa\n  ic-backup auth add --raw <principal>\n  ic-backup auth list"
)]
pub struct Args {
    #[command(subcommand)]
    action: AuthAction,
}

#[derive(clap::Subcommand, Debug)]
enum AuthAction {
    /// Add a principal.
    Add {
        principal: String,
        /// The raw-access set instead of the admin set.
        #[arg(long)]
        raw: bool,
    },
    /// Remove a principal.
    Remove {
        principal: String,
        #[arg(long)]
        raw: bool,
    },
    /// List the admin set (the raw-access set lives on the heap and cannot be listed).
    List,
}

pub fn run(args: Args, global: &Global) -> Result<()> {
    let action = match args.action {
        AuthAction::Add { principal, raw } => Action::Add { principal, raw },
        AuthAction::Remove { principal, raw } => Action::Remove { principal, raw },
        AuthAction::List => Action::List,
    };
    with_target(&global.connection, |target| {
        auth::auth(target, &action, global.json)
    })
}

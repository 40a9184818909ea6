#![doc = include_str!("../README.md")]

mod cli;
mod cmd;

use backup_client::error::Result;
use cli::{Cli, Command};
use cmd::Global;

fn main() {
    let cli = Cli::parse_in_groups();
    // Candid values nest as deep as a canister's stack allows, and candid's
    // decoder, encoder and type checks recurse once or more per level (on
    // native code it stops with an error when less than 32 KiB of stack is
    // left). The work runs on a thread with a large stack so that values far
    // deeper than a canister's default 1 MiB stack can hold are read and
    // written; the stack is reserved, not used, until a value needs it.
    let work = std::thread::Builder::new()
        .name("ic-backup".into())
        .stack_size(WORK_STACK)
        .spawn(move || run(cli));
    let outcome = match work {
        Ok(work) => work.join(),
        Err(error) => {
            eprintln!("error: cannot start the work thread ({WORK_STACK} bytes of stack): {error}");
            std::process::exit(1);
        }
    };
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            eprintln!("error: {error}");
            std::process::exit(error.exit_code());
        }
        // The panic's message was printed by the thread's panic hook.
        Err(_) => std::process::exit(101),
    }
}

/// The stack of the thread that runs a command: 256 MiB.
const WORK_STACK: usize = 256 << 20;

/// Runs one parsed command line.
fn run(cli: Cli) -> Result<()> {
    let global = Global {
        connection: cli.connection.read(),
        json: cli.json,
    };
    match cli.command {
        Command::Auth(args) => cmd::auth::run(args, &global),
        Command::Backup(args) => cmd::backup::run(args, &global),
        Command::Restore(args) => cmd::restore::run(args, &global),
        Command::Migrate(args) => cmd::migrate::run(args, &global),
        Command::Dump(args) => cmd::dump::run(args, &global),
        Command::Snapshot(args) => cmd::snapshot::run(args, &global),
        Command::Load(args) => cmd::load::run(args, &global),
        Command::Whoami(args) => cmd::whoami::run(args, &global),
        Command::Inspect(args) => cmd::inspect::run(args, &global),
        Command::CheckUpgrade(args) => cmd::check_upgrade::run(args, &global),
        Command::Verify(args) => cmd::verify::run(args, &global),
        Command::Serve(args) => cmd::serve::run(args, &global),
        Command::Call(args) => cmd::call::run(args, &global),
        Command::Repo(args) => cmd::repo::run(args, &global),
    }
}

//! The commands, each over a [`Target`].

pub mod migrate;
pub mod other;
pub mod raw;
pub mod restore;
pub mod typed;

use crate::cli::{Cli, Command};
use crate::error::{CliError, Result};
use crate::interface::Interface;
use crate::target::Target;

pub fn run(target: &mut dyn Target, cli: &Cli) -> Result<()> {
    let json = cli.json;
    match &cli.command {
        Command::Auth { action } => other::auth(target, action, json),
        Command::Call { method, args } => {
            let interface = interface(target, cli).ok();
            other::call(target, interface.as_ref(), method, args)
        }
        Command::Backup {
            map,
            output,
            format,
            max_bytes,
            parallel,
            stop_after,
        } => {
            let interface = interface(target, cli)?;
            let options = typed::BackupOptions {
                map,
                output,
                format: *format,
                max_bytes: *max_bytes,
                parallel: *parallel,
                stop_after: *stop_after,
                json,
            };
            typed::backup(target, &interface, options)
        }
        Command::Restore {
            map,
            input,
            replace,
            from_map,
            from_canister,
            batch_bytes,
            stop_after,
            format,
        } => {
            let interface = interface(target, cli)?;
            let options = restore::RestoreOptions {
                map,
                input,
                replace: *replace,
                batch_bytes: *batch_bytes,
                stop_after: *stop_after,
                format: *format,
                from_map: from_map.as_deref(),
                from_canister: from_canister.as_deref(),
                json,
            };
            restore::restore(target, &interface, options)
        }
        Command::Migrate {
            map,
            via,
            parallel,
            stop_after,
        } => {
            let interface = interface(target, cli)?;
            let via = via
                .clone()
                .unwrap_or_else(|| std::path::PathBuf::from(format!("{map}.migrate.json")));
            migrate::migrate(target, &interface, map, &via, *parallel, *stop_after, json)
        }
        Command::Dump {
            output,
            parallel,
            chunk_bytes,
            stop_after,
        } => raw::dump(target, output, *parallel, *chunk_bytes, *stop_after, json),
        Command::Load {
            input,
            base,
            block_bytes,
            force,
            yes,
        } => raw::load(
            target,
            raw::LoadOptions {
                input,
                base: base.as_deref(),
                block: *block_bytes,
                force: *force,
                yes: *yes,
                json,
            },
        ),
        Command::Verify { manifest } => raw::verify(target, manifest, json),
        Command::Inspect { image } => raw::inspect(image, json),
        // Answered by `run` before any target is opened.
        Command::Whoami => Err(CliError::Input("`whoami` needs no canister".into())),
        Command::Serve { .. } => Err(CliError::Input("`serve` runs on its own".into())),
    }
}

/// The canister's interface, from `--did` or from the canister itself.
fn interface(target: &mut dyn Target, cli: &Cli) -> Result<Interface> {
    let text = match &cli.connection.did {
        Some(path) => std::fs::read_to_string(path).map_err(|source| CliError::io(path, source))?,
        None => target.candid()?.ok_or_else(|| {
            CliError::Input(
                "the canister publishes no Candid interface (no candid:service metadata); pass it with --did <file>".into(),
            )
        })?,
    };
    Interface::parse(&text)
}

pub use crate::messages::{notice, output, set_quiet};
pub use crate::target::CALL_BUDGET;

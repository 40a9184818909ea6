//! `ic-backup`, the operator CLI, as a library: the binary is `main.rs`;
//! the benchmarks drive the same commands through their own [`target::Target`].

pub mod cli;
pub mod commands;
pub mod disk;
pub mod durable;
pub mod error;
pub mod identity;
pub mod interface;
pub mod json;
pub mod lock;
pub mod messages;
mod progress;
pub mod project;
pub mod resume;
pub mod serve;
pub mod snapshot;
pub mod stream;
pub mod subnet;
pub mod target;
pub mod wal;

use cli::{Cli, Connection};
use error::{CliError, Result};
use target::{Live, Offline, Target};

/// Parses the command line, runs the command, and exits with its code.
pub fn main() {
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
pub fn run(cli: Cli) -> Result<()> {
    // `inspect` reads a file and needs no canister.
    match &cli.command {
        cli::Command::Inspect { image } => return commands::raw::inspect(image, cli.json),
        cli::Command::Whoami => return whoami(&cli.connection, cli.json),
        cli::Command::Serve {
            port,
            new_keys,
            fold_interval,
            fail_queries,
            stall_queries,
        } => {
            let options = serve::Options {
                port: *port,
                new_keys: *new_keys,
                folding: target::Folding {
                    every: std::time::Duration::from_secs_f64(*fold_interval),
                    ..target::Folding::default()
                },
                faults: serve::Faults {
                    fail_every: *fail_queries,
                    stall_every: *stall_queries,
                },
                json: cli.json,
            };
            return serve(&cli.connection, options);
        }
        _ => {}
    }
    let mut target = connect(&cli.connection)?;
    let result = commands::run(target.as_mut(), &cli);
    if result.is_err() {
        target.failed();
    }
    // Offline, the image keeps whatever was done, even by a command that failed halfway.
    let finished = target.finish();
    result.and(finished)
}

/// `serve`: the offline target behind the IC's HTTP interface.
fn serve(connection: &Connection, options: serve::Options) -> Result<()> {
    let describe = match (&connection.snapshot, &connection.wasm, &connection.image) {
        (Some(dir), _, _) => format!("snapshot {}", dir.display()),
        (None, Some(wasm), Some(image)) => format!("{} over {}", wasm.display(), image.display()),
        _ => {
            return Err(CliError::Input(
                "expected --wasm <module> and --image <image>, or --snapshot <folder>, to serve"
                    .into(),
            ))
        }
    };
    let target = offline(connection)?.ok_or_else(|| CliError::Input("nothing to serve".into()))?;
    serve::serve(target, &describe, options)
}

fn connect(connection: &Connection) -> Result<Box<dyn Target>> {
    if let Some(offline) = offline(connection)? {
        return Ok(Box::new(offline));
    }
    let canister = connection.canister.as_deref().ok_or_else(|| {
        CliError::Input(
            "expected --canister <id or name> (live) or --wasm and --image (offline)".into(),
        )
    })?;
    let project = project()?;
    let network = project::resolve_network(
        &connection.network,
        project.as_ref(),
        &project::Homes::from_env(),
        connection.fetch_root_key,
    )?;
    let canister = project::resolve_canister(canister, &connection.network, project.as_ref())?;
    let identity = live_identity(connection, project.as_ref())?;
    let timeout = std::time::Duration::from_secs_f64(connection.timeout);
    Ok(Box::new(Live::connect(
        &network, identity, canister, timeout,
    )?))
}

/// The offline target the connection names, if it names one.
fn offline(connection: &Connection) -> Result<Option<Offline>> {
    let operator = || -> Result<target::Operator> {
        Ok(target::Operator {
            caller: match identity(connection)? {
                Some(identity) => identity.sender().map_err(CliError::Input)?,
                None => offline_operator(),
            },
            controller: !connection.not_controller,
            others: connection
                .controllers
                .iter()
                .map(|text| {
                    candid::Principal::from_text(text).map_err(|error| {
                        CliError::Input(format!(
                            "expected a principal for --controller, found `{text}`: {error}"
                        ))
                    })
                })
                .collect::<Result<_>>()?,
            seed: connection.seed.unwrap_or_else(|| {
                use std::hash::{BuildHasher, Hasher};
                // std's per-process random keys: a seed no two runs share.
                std::collections::hash_map::RandomState::new()
                    .build_hasher()
                    .finish()
            }),
        })
    };
    if let Some(dir) = &connection.snapshot {
        return Ok(Some(Offline::open_snapshot(dir, operator()?)?));
    }
    if let (Some(wasm), Some(image)) = (&connection.wasm, &connection.image) {
        return Ok(Some(Offline::open(wasm, image, operator()?)?));
    }
    Ok(None)
}

/// The dfx or icp-cli project the command runs in, if any.
fn project() -> Result<Option<project::Project>> {
    let cwd = std::env::current_dir()
        .map_err(|source| CliError::io(std::path::Path::new("."), source))?;
    project::Project::find(&cwd)
}

/// The identity of live calls: the one named, else the default identity of
/// the project's tool (icp-cli's in an icp.yaml project, dfx's otherwise).
fn live_identity(
    connection: &Connection,
    project: Option<&project::Project>,
) -> Result<Box<dyn ic_agent::Identity>> {
    if let Some(identity) = identity(connection)? {
        return Ok(identity);
    }
    let tool = match project.map(|project| project.kind) {
        Some(project::Kind::Icp) => identity::Tool::Icp,
        _ => identity::Tool::Dfx,
    };
    identity::Stores::from_env().load(None, Some(tool), &password(connection))
}

/// `whoami`: the principal live calls are made as (offline, the same
/// identity, or the fixed offline operator when none is named).
fn whoami(connection: &Connection, json: bool) -> Result<()> {
    let offline = connection.wasm.is_some() || connection.snapshot.is_some();
    let principal = match identity(connection)? {
        Some(identity) => identity.sender().map_err(CliError::Input)?,
        None if offline => offline_operator(),
        None => live_identity(connection, project()?.as_ref())?
            .sender()
            .map_err(CliError::Input)?,
    };
    if json {
        println!(
            "{}",
            serde_json::json!({ "principal": principal.to_text() })
        );
    } else {
        println!("{principal}");
    }
    Ok(())
}

/// The principal of offline calls when no identity is given: stable across
/// runs, so an offline admin set keeps working.
fn offline_operator() -> candid::Principal {
    candid::Principal::self_authenticating(b"ic-backup offline operator")
}

/// Where the password of an encrypted identity comes from.
fn password(connection: &Connection) -> identity::Password {
    identity::Password {
        file: connection.password_file.clone(),
    }
}

/// The identity of `--pem` or `--identity`; `None` when neither is given.
fn identity(connection: &Connection) -> Result<Option<Box<dyn ic_agent::Identity>>> {
    let password = password(connection);
    match (&connection.pem, &connection.identity) {
        (Some(pem), _) => identity::load_pem_file(pem, &password).map(Some),
        (None, Some(name)) => identity::Stores::from_env()
            .load(Some(name), None, &password)
            .map(Some),
        (None, None) => Ok(None),
    }
}

/// An identity from PEM bytes: Ed25519, secp256k1 or P-256, as dfx and
/// icp-cli write them.
pub fn load_pem(pem: &[u8]) -> std::result::Result<Box<dyn ic_agent::Identity>, String> {
    use ic_agent::identity::{BasicIdentity, Prime256v1Identity, Secp256k1Identity};
    if let Ok(identity) = BasicIdentity::from_pem(pem) {
        return Ok(Box::new(identity));
    }
    if let Ok(identity) = Secp256k1Identity::from_pem(pem) {
        return Ok(Box::new(identity));
    }
    Prime256v1Identity::from_pem(pem)
        .map(|identity| Box::new(identity) as Box<dyn ic_agent::Identity>)
        .map_err(|error| {
            format!("expected an Ed25519, secp256k1 or P-256 private key in PEM form: {error}")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_identities() {
        // An Ed25519 key in the PKCS#8 form dfx writes.
        let pem = "-----BEGIN PRIVATE KEY-----\nMFMCAQEwBQYDK2VwBCIEIB5Ku8gKo4FiQy0BmL5wfXbyMyEUI9UdShH7MvjcPpTyoSMDIQDyEn9V8EOHBqRRkvbt2TfBfMxr8Q1NZ0PE4aBv6G0rUw==\n-----END PRIVATE KEY-----\n";
        let identity = load_pem(pem.as_bytes()).unwrap();
        assert!(identity.sender().is_ok());
        let error = load_pem(b"not a key").err().unwrap();
        assert!(error.contains("expected an Ed25519"), "{error}");
    }
}

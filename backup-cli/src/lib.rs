//! `ic-backup`, the operator CLI, as a library: the binary is `main.rs`;
//! the benchmarks drive the same commands through their own [`target::Target`].

pub mod cli;
pub mod commands;
pub mod durable;
pub mod error;
pub mod interface;
pub mod json;
mod progress;
pub mod resume;
pub mod target;

use clap::Parser;
use cli::{Cli, Connection};
use error::{CliError, Result};
use std::path::PathBuf;
use target::{Live, Offline, Target};

/// Parses the command line, runs the command, and exits with its code.
pub fn main() {
    let cli = Cli::parse();
    if let Err(error) = run(cli) {
        eprintln!("error: {error}");
        std::process::exit(error.exit_code());
    }
}

/// Runs one parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    // `inspect` reads a file and needs no canister.
    if let cli::Command::Inspect { image } = &cli.command {
        return commands::raw::inspect(image, cli.json);
    }
    let mut target = connect(&cli.connection)?;
    let result = commands::run(target.as_mut(), &cli);
    // Offline, the image keeps whatever was done, even by a command that failed halfway.
    let finished = target.finish();
    result.and(finished)
}

fn connect(connection: &Connection) -> Result<Box<dyn Target>> {
    if let (Some(wasm), Some(image)) = (&connection.wasm, &connection.image) {
        let caller = match identity(connection)? {
            Some(identity) => identity.sender().map_err(CliError::Input)?,
            None => offline_operator(),
        };
        return Ok(Box::new(Offline::open(
            wasm,
            image,
            caller,
            !connection.not_controller,
        )?));
    }
    let canister = connection.canister.as_deref().ok_or_else(|| {
        CliError::Input("expected --canister <id> (live) or --wasm and --image (offline)".into())
    })?;
    let canister = candid::Principal::from_text(canister).map_err(|error| {
        CliError::Input(format!(
            "expected a canister id for --canister, found `{canister}`: {error}"
        ))
    })?;
    let identity = identity(connection)?.ok_or_else(|| {
        CliError::Input("expected --identity <name> or --pem <file>: the canister only answers authorized callers".into())
    })?;
    let (url, local) = network_url(&connection.network)?;
    Ok(Box::new(Live::connect(&url, local, identity, canister)?))
}

/// The URL of `--network`, and whether it is a local replica (whose root
/// key must be fetched).
pub fn network_url(network: &str) -> Result<(String, bool)> {
    match network {
        "local" => Ok(("http://127.0.0.1:4943".into(), true)),
        "ic" => Ok(("https://icp-api.io".into(), false)),
        url if url.starts_with("http://") || url.starts_with("https://") => {
            let local = url.contains("://127.0.0.1")
                || url.contains("://localhost")
                || url.contains("://[::1]");
            Ok((url.to_string(), local))
        }
        other => Err(CliError::Input(format!(
            "expected --network local, ic or an http(s) URL, found `{other}`"
        ))),
    }
}

/// The principal of offline calls when no identity is given: stable across
/// runs, so an offline admin set keeps working.
fn offline_operator() -> candid::Principal {
    candid::Principal::self_authenticating(b"ic-backup offline operator")
}

fn identity(connection: &Connection) -> Result<Option<Box<dyn ic_agent::Identity>>> {
    let path = match (&connection.pem, &connection.identity) {
        (Some(pem), _) => pem.clone(),
        (None, Some(name)) => identity_file(name)?,
        (None, None) => return Ok(None),
    };
    let pem = std::fs::read(&path).map_err(|source| CliError::io(&path, source))?;
    load_pem(&pem)
        .map(Some)
        .map_err(|error| CliError::Input(format!("{}: {error}", path.display())))
}

fn identity_file(name: &str) -> Result<PathBuf> {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let candidates = [
        home.join(".config/dfx/identity")
            .join(name)
            .join("identity.pem"),
        home.join(".config/icp/identity")
            .join(name)
            .join("identity.pem"),
        home.join(".local/share/icp-cli/identity/keys")
            .join(format!("{name}.pem")),
    ];
    candidates
        .iter()
        .find(|path| path.exists())
        .cloned()
        .ok_or_else(|| {
            let tried: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
            CliError::Input(format!(
                "no identity `{name}`: looked for {}",
                tried.join(", ")
            ))
        })
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
    fn networks() {
        assert_eq!(
            network_url("local").unwrap(),
            ("http://127.0.0.1:4943".to_string(), true)
        );
        assert_eq!(
            network_url("ic").unwrap(),
            ("https://icp-api.io".to_string(), false)
        );
        assert!(network_url("http://localhost:8000").unwrap().1);
        assert!(!network_url("https://example.org").unwrap().1);
        assert!(network_url("mainnet")
            .unwrap_err()
            .to_string()
            .contains("`mainnet`"));
    }

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

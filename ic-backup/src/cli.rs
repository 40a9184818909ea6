//! The command line: the options every command takes (where calls go,
//! `--json`), the commands, and `--help` listing them in groups.

use crate::cmd;
use backup_client::connect::Connection;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use std::path::PathBuf;

/// Back up, restore, dump, load and inspect a canister's data
///
/// For canisters built with #[derive(Backupable)]: live (through ic-agent),
/// or offline (its wasm over a stable memory image or snapshot folder, in
/// the embedded runner).
#[derive(Parser, Debug)]
#[command(name = "ic-backup", version, after_help = EXAMPLES)]
pub struct Cli {
    #[command(flatten)]
    pub connection: ConnectionArgs,

    /// Print results as JSON, for scripts.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    Auth(cmd::auth::Args),
    Backup(cmd::backup::Args),
    Restore(cmd::restore::Args),
    Migrate(cmd::migrate::Args),
    CheckUpgrade(cmd::check_upgrade::Args),
    Dump(cmd::dump::Args),
    Snapshot(cmd::snapshot::Args),
    Load(cmd::load::Args),
    Whoami(cmd::whoami::Args),
    Inspect(cmd::inspect::Args),
    Verify(cmd::verify::Args),
    Serve(cmd::serve::Args),
    Call(cmd::call::Args),
    Repo(cmd::repo::Args),
}

/// The commands as `--help` lists them: in groups, one short line each
/// (each command's own `--help` has the details and examples).
const GROUPS: [(&str, &[&str]); 6] = [
    (
        "Typed data",
        &["backup", "restore", "migrate", "check-upgrade"],
    ),
    ("Raw stable memory", &["dump", "load", "verify", "inspect"]),
    ("IC snapshots", &["snapshot"]),
    ("Restic repositories", &["repo"]),
    ("Access", &["auth", "whoami"]),
    ("Serving and calling", &["serve", "call"]),
];

impl Cli {
    /// The command line as clap reads it, with `--help` listing the
    /// commands in the groups of `GROUPS`.
    pub fn command_in_groups() -> clap::Command {
        let command = Cli::command();
        let width = GROUPS
            .iter()
            .flat_map(|(_, names)| names.iter().map(|name| name.len()))
            .max()
            .unwrap_or(0);
        let mut list = String::new();
        for (group, names) in GROUPS {
            list.push_str(&format!("{group}:\n"));
            for name in names {
                let about = command
                    .find_subcommand(name)
                    .and_then(|sub| sub.get_about())
                    .map(|about| about.to_string())
                    .unwrap_or_default();
                list.push_str(&format!("  {name:width$}  {about}\n"));
            }
            list.push('\n');
        }
        command.help_template(format!(
            "{{about-with-newline}}\n{{usage-heading}} {{usage}}\n\n{list}\
             Run `ic-backup <COMMAND> --help` for a command's options and examples.\n\n\
             Options:\n{{options}}{{after-help}}"
        ))
    }

    /// Parses the process's arguments (exits with clap's message and code
    /// on a mistake, or after printing help).
    pub fn parse_in_groups() -> Cli {
        let matches = Cli::command_in_groups().get_matches();
        Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit())
    }
}

const EXAMPLES: &str = "\
Examples:
  # offline: the canister's wasm over a stable memory image, or a downloaded snapshot folder
  ic-backup --wasm profiles.wasm --image stable_memory.bin backup profiles -o profiles.json
  ic-backup --snapshot ./snapshot backup profiles -o profiles.json
  # in a dfx or icp-cli project: its local network, its default identity, a canister by name
  ic-backup --canister backend auth list
  # mainnet, with a named identity (dfx's or icp-cli's) and a canister id
  ic-backup --network ic --identity admin --canister <id> dump -o stable_memory.dat
  # an encrypted key file, its password in a file
  ic-backup --network https://testnet.example.org --pem admin.pem --password-file pw --canister <id> backup profiles -o p.json";

#[derive(Args, Debug, Clone)]
pub struct ConnectionArgs {
    /// `ic` (mainnet), a URL, or a network (or icp-cli environment) of the
    /// project the command runs in: `local` is what the project's dfx.json
    /// or icp.yaml says, else the tool's default (dfx: 127.0.0.1:4943,
    /// icp-cli: 127.0.0.1:8000), at the port a running replica wrote down.
    #[arg(long, global = true, default_value = "local")]
    pub network: String,

    /// Fetch the root key from the network even where the project states it
    /// (it is fetched from every network but mainnet anyway).
    #[arg(long, global = true)]
    pub fetch_root_key: bool,

    /// The canister (live mode): its id, or its name in the project's
    /// canister id files (dfx's canister_ids.json, icp-cli's mappings).
    #[arg(long, global = true)]
    pub canister: Option<String>,

    /// An identity by name, from dfx's store (~/.config/dfx/identity) or
    /// icp-cli's (its identity_list.json); `dfx:<name>` or `icp:<name>` when
    /// both have the name. Live mode without --identity or --pem uses the
    /// project's tool's default identity (dfx's, or icp-cli's in an icp.yaml
    /// project).
    #[arg(long, global = true, conflicts_with = "pem")]
    pub identity: Option<String>,

    /// A PEM file holding the identity's private key (Ed25519, secp256k1 or
    /// P-256; PKCS#8 or SEC1; or an encrypted PKCS#8 key, which asks for
    /// its password).
    #[arg(long, global = true)]
    pub pem: Option<PathBuf>,

    /// The password of an encrypted identity, on the first line of this
    /// file; without it, ic-backup asks at the terminal.
    #[arg(long, global = true)]
    pub password_file: Option<PathBuf>,

    /// Offline mode: the canister's wasm module.
    #[arg(long, global = true, requires = "image")]
    pub wasm: Option<PathBuf>,

    /// Offline mode: the stable memory image the canister runs over; created
    /// (with a freshly installed canister) if it does not exist. Changes are
    /// written back to it.
    #[arg(long, global = true, requires = "wasm")]
    pub image: Option<PathBuf>,

    /// Offline mode: a snapshot folder as `dfx canister snapshot download`
    /// or `icp canister snapshot download` wrote it (its module, gzipped or
    /// not, over its stable memory). Changes are written back to its
    /// stable_memory.bin and metadata.json.
    #[arg(long, global = true, conflicts_with_all = ["wasm", "image"])]
    pub snapshot: Option<PathBuf>,

    /// Offline mode: do not make the caller a controller of the canister.
    #[arg(long, global = true)]
    pub not_controller: bool,

    /// Offline mode: another controller of the canister (repeatable); the
    /// canister's own id (rrkah-fqaaa-aaaaa-aaaaq-cai offline) lets it ask
    /// the management canister for its own status.
    #[arg(long = "controller", global = true, value_name = "PRINCIPAL")]
    pub controllers: Vec<String>,

    /// Offline mode: the seed of the management canister's `raw_rand`, so
    /// that a run can be repeated with the same random bytes (without it,
    /// each run draws a seed of its own).
    #[arg(long, global = true)]
    pub seed: Option<u64>,

    /// Live: seconds one query may take before it is tried again (a query
    /// that fails for a transient reason, 429, 5xx, the network or this
    /// timeout, is tried up to 6 times, waiting 0.25 s, 0.5 s, 1 s, ...).
    #[arg(long, global = true, default_value_t = 60.0, value_parser = positive_seconds)]
    pub timeout: f64,

    /// The canister's Candid interface, when it does not publish one.
    #[arg(long, global = true)]
    pub did: Option<PathBuf>,
}

fn positive_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds > 0.0 && seconds <= 86_400.0 => Ok(seconds),
        _ => Err(format!(
            "expected seconds between 0 and 86400, found `{text}`"
        )),
    }
}

impl ConnectionArgs {
    /// What the options say, for the library.
    pub fn read(self) -> Connection {
        Connection {
            network: self.network,
            fetch_root_key: self.fetch_root_key,
            canister: self.canister,
            identity: self.identity,
            pem: self.pem,
            password_file: self.password_file,
            wasm: self.wasm,
            image: self.image,
            snapshot: self.snapshot,
            not_controller: self.not_controller,
            controllers: self.controllers,
            seed: self.seed,
            timeout: std::time::Duration::from_secs_f64(self.timeout),
            did: self.did,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every command is in one group of `--help`, and every name in a
    /// group is a command.
    #[test]
    fn help_lists_every_command_once_in_its_group() {
        let command = Cli::command();
        let listed: Vec<&str> = GROUPS
            .iter()
            .flat_map(|(_, names)| names.iter().copied())
            .collect();
        for sub in command.get_subcommands() {
            let name = sub.get_name();
            assert_eq!(
                listed.iter().filter(|listed| **listed == name).count(),
                1,
                "{name}"
            );
        }
        for name in &listed {
            assert!(command.find_subcommand(name).is_some(), "{name}");
        }
        let help = Cli::command_in_groups().render_help().to_string();
        for name in listed {
            assert!(help.contains(&format!("  {name} ")), "{name} in\n{help}");
        }
    }
}

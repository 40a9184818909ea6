//! Command-line arguments.

use crate::json::Format;
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
    pub connection: Connection,

    /// Print results as JSON, for scripts.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

/// The commands as `--help` lists them: in groups, one short line each
/// (each command's own `--help` has the details and examples).
const GROUPS: [(&str, &[&str]); 4] = [
    ("Typed data", &["backup", "restore", "migrate"]),
    ("Raw stable memory", &["dump", "load", "verify", "inspect"]),
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

/// `--parallel`: queries in flight, 1 to 1024.
fn in_flight() -> impl clap::builder::TypedValueParser<Value = usize> {
    clap::builder::TypedValueParser::map(clap::value_parser!(u64).range(1..=1024), |n| n as usize)
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
pub struct Connection {
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

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Manage who may back up and restore, or touch raw memory
    ///
    /// The admin set may back up and restore typed data; `--raw` names who
    /// may read and write raw stable memory (that set is emptied by every
    /// upgrade).
    #[command(
        after_help = "Examples:\n  ic-backup auth add aaaaa-aa\n  ic-backup auth add --raw <principal>\n  ic-backup auth list"
    )]
    Auth {
        #[command(subcommand)]
        action: AuthAction,
    },

    /// Back up one map to a file
    ///
    /// Page by page, several spans in flight (`--parallel`); an interrupted
    /// backup resumes from its last page when run again.
    #[command(
        after_help = "Example:\n  ic-backup backup profiles -o profiles.json --format lossless"
    )]
    Backup {
        /// The map, as in the endpoint `backup_<map>_page`.
        map: String,
        /// The file to write.
        #[arg(short, long)]
        output: PathBuf,
        /// `lossless` keeps nat64 above 2^53, blobs, nested options exactly;
        /// `agent-js` is what the article's backup.js writes and restore.js
        /// reads (`opt` as `[]` or `[x]`, numbers inexact above 2^53); `json` is
        /// plain `[[key, value], ...]` with `opt` as null or the value.
        #[arg(long, value_enum, default_value = "lossless")]
        format: Format,
        /// Bytes per page (the canister's default is 1.5 MiB).
        #[arg(long)]
        max_bytes: Option<u64>,
        /// Queries in flight at once. Above 1, the canister cuts the map into
        /// spans of equal length (`backup_<map>_splits`, 4 per query), each
        /// paged on its own; the file is the same. Canisters built before
        /// that are backed up one query at a time.
        #[arg(long, default_value_t = 8, value_parser = in_flight())]
        parallel: usize,
        /// Stop after this many pages, as if interrupted (for tests).
        #[cfg_attr(feature = "test-hooks", arg(long, hide = true))]
        #[cfg_attr(not(feature = "test-hooks"), arg(skip))]
        stop_after: Option<usize>,
    },

    /// Restore one map from a backup file
    ///
    /// In batches under the 2 MiB ingress limit; the whole file is checked
    /// against the map's types, and by the canister, before anything is
    /// written, and an interrupted restore resumes when run again.
    #[command(after_help = "Example:\n  ic-backup restore profiles -i profiles.json --replace")]
    Restore {
        map: String,
        /// The backup file: lossless, agent-js (the article's backup.js) or
        /// plain JSON, told apart from the file itself.
        #[arg(short, long)]
        input: PathBuf,
        /// The form of a `[[key, value], ...]` file, when the file alone
        /// does not say (an `opt vec` that is `[]` everywhere).
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Empty the map first, for an exact restore.
        #[arg(long)]
        replace: bool,
        /// Restore a lossless file of another map (the map its header
        /// names) into this one: refused without it.
        #[arg(long, value_name = "MAP")]
        from_map: Option<String>,
        /// Restore a lossless file of another canister (the id its header
        /// names) into this one: refused without it (live targets; an
        /// offline image does not know its canister's id).
        #[arg(long, value_name = "CANISTER_ID")]
        from_canister: Option<String>,
        /// Bytes per restore call (at most the default, 85% of the 2 MiB
        /// ingress limit); smaller batches for tests.
        #[cfg_attr(
            feature = "test-hooks",
            arg(long, hide = true, default_value_t = crate::target::CALL_BUDGET)
        )]
        #[cfg_attr(not(feature = "test-hooks"), arg(skip = crate::target::CALL_BUDGET))]
        batch_bytes: usize,
        /// Stop after this many batches, as if interrupted (for tests).
        #[cfg_attr(feature = "test-hooks", arg(long, hide = true))]
        #[cfg_attr(not(feature = "test-hooks"), arg(skip))]
        stop_after: Option<usize>,
    },

    /// Rewrite one map in the current layout, verified
    ///
    /// Backs it up, restores it with --replace (which starts the map again
    /// in the current layout), backs it up again and compares. For maps that
    /// ic-stable-structures 0.5 wrote (`inspect` shows them as V1), whose
    /// keys and values may otherwise not outgrow their slots. Resumable;
    /// the backup is kept.
    #[command(after_help = "Example:\n  ic-backup migrate profiles --via profiles.before.json")]
    Migrate {
        map: String,
        /// The backup the map is rewritten from (default `<map>.migrate.json`);
        /// overwritten when a migration starts, kept when it ends.
        #[arg(long)]
        via: Option<PathBuf>,
        /// Queries in flight at once for its two backups (as for `backup`).
        #[arg(long, default_value_t = 8, value_parser = in_flight())]
        parallel: usize,
        /// Stop after this many steps, as if interrupted (for tests).
        #[cfg_attr(feature = "test-hooks", arg(long, hide = true))]
        #[cfg_attr(not(feature = "test-hooks"), arg(skip))]
        stop_after: Option<usize>,
    },

    /// Dump raw stable memory to an image file
    ///
    /// With parallel `stable_read` queries, resumable, with a SHA-256
    /// manifest beside it.
    #[command(after_help = "Example:\n  ic-backup dump -o stable_memory.dat --parallel 16")]
    Dump {
        #[arg(short, long)]
        output: PathBuf,
        /// Queries in flight at once.
        #[arg(long, default_value_t = 16, value_parser = in_flight())]
        parallel: usize,
        /// Bytes per `stable_read` (at most 1.9375 MiB, the default).
        #[arg(long, default_value_t = backup_runtime::limits::MAX_RAW_READ)]
        chunk_bytes: u64,
        /// Stop after this many chunks, as if interrupted (for tests).
        #[cfg_attr(feature = "test-hooks", arg(long, hide = true))]
        #[cfg_attr(not(feature = "test-hooks"), arg(skip))]
        stop_after: Option<usize>,
    },

    /// Write an image back to stable memory
    ///
    /// Sends only the blocks whose digest differs from the canister's (or
    /// from `--base`), then verifies.
    /// The file must be a MemoryManager image whose maps match the
    /// canister's (unless --force); it says what it will change and asks
    /// first (unless --yes). Upgrade the canister afterwards: its typed
    /// endpoints refuse until its heap reads the new memory.
    #[command(
        after_help = "Examples:\n  ic-backup load -i repaired.dat\n  ic-backup load -i repaired.dat --base stable_memory.dat --yes"
    )]
    Load {
        #[arg(short, long)]
        input: PathBuf,
        /// Compare with this image (the one the repair started from) instead
        /// of asking the canister for digests.
        #[arg(long)]
        base: Option<PathBuf>,
        /// The block size compared and written.
        #[arg(long, default_value_t = 64 * 1024)]
        block_bytes: u64,
        /// Load a file that is not a MemoryManager image, or whose maps
        /// (memory ids, key and value layout) differ from the canister's.
        #[arg(long)]
        force: bool,
        /// Do not ask for confirmation (required when not at a terminal).
        #[arg(long, short = 'y')]
        yes: bool,
    },

    /// Print the principal calls are made as
    ///
    /// The identity named, else the project's tool's default (offline
    /// without one, the fixed offline operator). Add it to a canister's
    /// admin set with `auth add`.
    #[command(after_help = "Example:\n  ic-backup auth add $(ic-backup --identity admin whoami)")]
    Whoami,

    /// Show what an image or snapshot folder holds
    ///
    /// Its MemoryManager layout, and the structure found in each memory
    /// (StableBTreeMaps with their layout and length).
    #[command(
        after_help = "Examples:\n  ic-backup inspect stable_memory.bin\n  ic-backup inspect ./snapshot"
    )]
    Inspect { image: PathBuf },

    /// Compare the canister's stable memory with a dump's manifest
    #[command(after_help = "Example:\n  ic-backup verify --manifest stable_memory.dat.sha256")]
    Verify {
        #[arg(long)]
        manifest: PathBuf,
    },

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
    #[command(
        after_help = "Examples:\n  ic-backup --wasm profiles.wasm --image stable_memory.bin serve --port 4944\n  ic-backup --snapshot ./snapshot serve --controller $(dfx identity get-principal)\n  # then, in another terminal:\n  dfx canister call --network http://127.0.0.1:4944 rrkah-fqaaa-aaaaa-aaaaq-cai profiles_len\n  ic-backup --network http://127.0.0.1:4944 --canister rrkah-fqaaa-aaaaa-aaaaq-cai backup profiles -o p.json"
    )]
    Serve {
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
    },

    /// Call any method with Candid text arguments
    ///
    /// Prints the reply as Candid text.
    #[command(
        after_help = "Examples:\n  ic-backup call profile_count\n  ic-backup call get_profile_of '(principal \"aaaaa-aa\")'"
    )]
    Call {
        method: String,
        /// The arguments in Candid text, e.g. `(42, \"text\")`.
        #[arg(default_value = "()")]
        args: String,
    },
}

fn fold_interval(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && (0.01..=86_400.0).contains(&seconds) => Ok(seconds),
        _ => Err(format!(
            "expected a number of seconds from 0.01 to 86400, found `{text}`"
        )),
    }
}

#[derive(Subcommand, Debug)]
pub enum AuthAction {
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

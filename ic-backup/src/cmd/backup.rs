//! `ic-backup backup`.

use super::Global;
use backup_client::error::{Error, Result};
use backup_client::interface::Interface;
use backup_client::json::Format;
use backup_client::layout::Layout;
use backup_client::ops::backup::{backup, BackupOptions};
use backup_client::ops::repo::save_files;
use std::path::PathBuf;

/// Back up one map, set, vec, log, heap or cell to a file
///
/// Page by page, several spans in flight (`--parallel`); an interrupted
/// backup resumes from its last page when run again. A canister built
/// without the derive is backed up through a layout file (`--layout`),
/// read from its stable memory alone. With --repo the file (`<name>.json`)
/// becomes a snapshot of a restic repository, tagged `kind=backup` and
/// `map=<name>` (staged in ~/.cache/ic-backup on the way).
#[derive(clap::Args, Debug)]
#[command(
    group = clap::ArgGroup::new("into").required(true).args(["output", "repo"]),
    after_help = "Examples:\n  ic-backup backup profiles -o profiles.json --format lossless\n  ic-backup --canister backend backup profiles --repo /backups/ic --consistent\n  ic-backup --canister backend backup profiles -o profiles.json --consistent\n  ic-backup --snapshot ./cut backup posts -o posts.json --layout club.toml\n\nA layout file names each structure's kind, memory and Candid types:\n\n  types = \"type Post = record { author : principal; text : text; at_nanos : nat64 };\"\n  [[structure]]\n  name = \"posts\"\n  kind = \"vec\"          # map, set, vec, log, min-heap or cell\n  memory_id = 3         # its MemoryManager memory (a log: its index; data_memory_id: its entries)\n  value = \"Post\"        # a map or set also names its `key`\n\n`ic-backup inspect --layout <image>` proposes one."
)]
pub struct Args {
    /// The structure, as in the endpoint `backup_<name>_page`, or as the
    /// layout file names it.
    map: String,
    /// The file to write.
    #[arg(short, long)]
    output: Option<PathBuf>,
    #[command(flatten)]
    repo: super::repo::RepoArgs,
    /// `lossless` keeps nat64 above 2^53, blobs, nested options exactly;
    /// `agent-js` is what the article's backup.js writes and restore.js
    /// reads (`opt` as `[]` or `[x]`, numbers inexact above 2^53); `json` is
    /// plain `[[key, value], ...]` with `opt` as null or the value.
    #[arg(long, default_value = "lossless", value_parser = super::format())]
    format: Format,
    /// Bytes per page (the canister's default is 1.5 MiB).
    #[arg(long)]
    max_bytes: Option<u64>,
    /// Queries in flight at once. Above 1, the canister cuts the map into
    /// spans of equal length (`backup_<map>_splits`, 4 per query), each
    /// paged on its own; the file is the same. Canisters built before
    /// that are backed up one query at a time.
    #[arg(long, default_value_t = 8, value_parser = super::in_flight())]
    parallel: usize,
    /// Stop after this many pages, as if interrupted (for tests).
    #[cfg_attr(feature = "test-hooks", arg(long, hide = true))]
    #[cfg_attr(not(feature = "test-hooks"), arg(skip))]
    stop_after: Option<usize>,
    /// Offline, run the canister's `backup_<map>_page` in the runner for
    /// every page instead of reading the map from the image's bytes. The
    /// file is the same either way; this is the slow path (the canister's
    /// code runs for every entry), kept to settle a doubt. Without it, the
    /// canister's first page shows where the map is and how its keys and
    /// values are stored, and any entry the native reader cannot read
    /// exactly sends the rest through the canister's pages.
    #[arg(long, conflicts_with = "layout")]
    through_wasm: bool,
    /// A layout file (TOML) naming the canister's structures, their
    /// memories and Candid types, for a canister built without the derive:
    /// the structure is read from the stable memory of the image, snapshot
    /// folder or consistent cut, decoded with those types. A value that
    /// does not decode is named, and nothing is written.
    #[arg(long, value_name = "FILE")]
    layout: Option<PathBuf>,
    #[command(flatten)]
    consistent: super::Consistent,
}

pub fn run(args: Args, global: &Global) -> Result<()> {
    let repo = args.repo.open()?;
    let staging = match &repo {
        Some(_) => Some(super::repo::staging(
            global,
            &format!("backup-{}", args.map),
        )?),
        None => None,
    };
    let output = match (&staging, &args.output) {
        (Some(staging), _) => staging.join(format!("{}.json", args.map)),
        (None, Some(output)) => output.clone(),
        (None, None) => return Err(Error::Input("expected -o <file> or --repo".into())),
    };
    let layout = args.layout.as_deref().map(Layout::read_file).transpose()?;
    let structure = match (&layout, &args.layout) {
        (Some(layout), Some(path)) => Some(layout.typed(&args.map, &path.display().to_string())?),
        _ => None,
    };
    let mut from = None;
    super::on_target_or_cut(
        global,
        &args.consistent,
        &output,
        args.parallel,
        |target, origin| {
            if repo.is_some() {
                from = Some(origin.clone().with_module_of(target)?);
            }
            let interface = match &layout {
                Some(layout) => Interface::parse(&layout.interface_source())
                    .map_err(|error| Error::Input(format!("the layout file's types: {error}")))?,
                None => Interface::of(target, global.connection.did.as_deref())?,
            };
            let options = BackupOptions {
                map: &args.map,
                output: &output,
                format: args.format,
                max_bytes: args.max_bytes,
                parallel: args.parallel,
                stop_after: args.stop_after,
                through_wasm: args.through_wasm,
                layout: structure,
                json: global.json,
            };
            // Into a repository, the staged file is not the result to print.
            backup_client::ops::set_quiet(repo.is_some());
            let backed_up = backup(target, &interface, options);
            backup_client::ops::set_quiet(false);
            backed_up
        },
    )?;
    if let (Some(repo), Some(staging), Some(origin)) = (&repo, &staging, &from) {
        let tags = [
            format!("map={}", args.map),
            format!("format={}", args.format.name()),
        ];
        let file = (format!("{}.json", args.map), output.clone());
        save_files(repo, origin, "backup", &tags, &[file], global.json)?;
        std::fs::remove_dir_all(staging).map_err(|source| Error::io(staging, source))?;
    }
    Ok(())
}

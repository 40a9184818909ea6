//! `ic-backup restore`.

use super::Global;
use backup_client::connect::with_target;
use backup_client::error::{Error, Result};
use backup_client::interface::Interface;
use backup_client::json::{FieldMap, Format};
use backup_client::layout::Layout;
use backup_client::ops::repo::{fetch, Origin};
use backup_client::ops::restore::layout::{restore_through_layout, Into, LayoutRestore};
use backup_client::ops::restore::{restore, RestoreOptions};
use backup_client::resume::TargetId;
use backup_client::target::{Target, CALL_BUDGET};
use std::path::PathBuf;

/// Restore one map, set, vec, log, heap or cell from a backup file
///
/// In batches under the 2 MiB ingress limit; the whole file is checked
/// against the structure's types, and by the canister, before anything is
/// written, and an interrupted restore resumes when run again. A canister
/// built without the derive is restored through a layout file
/// (`--layout`): into an image or a snapshot folder, then loaded. With
/// --repo the file comes from a snapshot of a restic repository (the
/// latest backup of the structure from this canister, or
/// `--repo-snapshot <id>`).
#[derive(clap::Args, Debug)]
#[command(
    group = clap::ArgGroup::new("from").required(true).args(["input", "repo"]),
    after_help = "Examples:\n  ic-backup restore profiles -i profiles.json --replace\n  ic-backup --canister backend restore profiles --repo /backups/ic --repo-snapshot 4f1c2a9e --replace\n  ic-backup restore members -i members-v1.json --drop-field legacy_score --rename full_name=name\n  ic-backup --snapshot ./cut restore posts -i posts.json --layout club.toml"
)]
pub struct Args {
    /// The structure, as in the endpoint `restore_<name>`, or as the
    /// layout file names it.
    map: String,
    /// The backup file: lossless, agent-js (the article's backup.js) or
    /// plain JSON, told apart from the file itself.
    #[arg(short, long)]
    input: Option<PathBuf>,
    #[command(flatten)]
    repo: super::repo::RepoArgs,
    /// With --repo: the repository snapshot, `latest` (the latest backup
    /// of this structure from this canister and network) or an id.
    #[arg(long, value_name = "ID", default_value = "latest", requires = "repo")]
    repo_snapshot: String,
    /// The form of a `[[key, value], ...]` file, when the file alone
    /// does not say (an `opt vec` that is `[]` everywhere).
    #[arg(long, value_parser = super::format())]
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
    /// Drop this field (at any depth) where the file's records have it and
    /// the map's types do not, as when a newer version of the canister
    /// removed it (repeatable). Without it such a file is refused, naming
    /// each field and how many values it holds; the report counts what was
    /// dropped.
    #[arg(long = "drop-field", value_name = "FIELD")]
    drop_fields: Vec<String>,
    /// A field the file has under the name OLD and the map's types under
    /// NEW (renamed between versions; at any depth; repeatable).
    #[arg(long = "rename", value_name = "OLD=NEW")]
    renames: Vec<String>,
    /// Read and check the whole file, print how the types it was written
    /// with (a lossless file records them) relate to the map's: fields
    /// added, removed, renamed, cases added or missing, types changed; and
    /// what a restore would write. Nothing is sent to the canister.
    #[arg(long)]
    dry_run: bool,
    /// A layout file (TOML; see `backup --help`) for a canister built
    /// without the derive: the file is written into the structure in the
    /// image (--wasm and --image) or snapshot folder (--snapshot) as
    /// ic-stable-structures stores it, all or nothing, following the
    /// derive's rules (a vec sets and appends, a log or heap only grows, a
    /// cell has index 0); `ic-backup load` or `snapshot upload` then puts it
    /// into the canister.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with_all = ["from_map", "from_canister", "drop_fields", "renames", "dry_run"]
    )]
    layout: Option<PathBuf>,
    /// Bytes per restore call (at most the default, 85% of the 2 MiB
    /// ingress limit); smaller batches for tests.
    #[cfg_attr(
        feature = "test-hooks",
        arg(long, hide = true, default_value_t = CALL_BUDGET)
    )]
    #[cfg_attr(not(feature = "test-hooks"), arg(skip = CALL_BUDGET))]
    batch_bytes: usize,
    /// Stop after this many batches, as if interrupted (for tests).
    #[cfg_attr(feature = "test-hooks", arg(long, hide = true))]
    #[cfg_attr(not(feature = "test-hooks"), arg(skip))]
    stop_after: Option<usize>,
}

pub fn run(args: Args, global: &Global) -> Result<()> {
    let Some(repo) = args.repo.open()? else {
        return run_from(&args, args.input.clone().unwrap_or_default(), global);
    };
    // The file, fetched into the cache folder, then restored from there.
    let snapshot = super::repo::find(&repo, &args.repo_snapshot, || {
        // `latest` is this canister's latest backup of the structure.
        let connection = &global.connection;
        let image = match (&connection.image, &connection.snapshot) {
            (Some(image), _) => Some(image.clone()),
            (None, Some(folder)) => Some(folder.join("stable_memory.bin")),
            (None, None) => None,
        };
        let id = match image {
            Some(image) => TargetId::Offline {
                image,
                sha256: None,
            },
            None => backup_client::connect::live(connection)?.id(),
        };
        let mut tags = Origin::of(&id, &connection.network, false).group("backup");
        tags.push(format!("map={}", args.map));
        Ok(tags)
    })?;
    let name = format!("{}.json", args.map);
    let staging = super::repo::staging(
        global,
        &format!("restore-{}-{}", args.map, backup_repo::short(&snapshot.id)),
    )?;
    let input = staging.join(&name);
    fetch(&repo, &snapshot, &name, &input)?;
    run_from(&args, input, global)?;
    std::fs::remove_dir_all(&staging).map_err(|source| Error::io(&staging, source))
}

/// Restores from the file `input`.
fn run_from(args: &Args, input: PathBuf, global: &Global) -> Result<()> {
    if let Some(path) = &args.layout {
        let layout = Layout::read_file(path)?;
        let structure = layout.typed(&args.map, &path.display().to_string())?;
        let connection = &global.connection;
        let into = match (&connection.image, &connection.snapshot) {
            (Some(image), _) => Into::Image(image),
            (None, Some(folder)) => Into::Snapshot(folder),
            (None, None) => {
                return Err(Error::Input(
                    "--layout restores into an image (--wasm and --image) or a snapshot folder (--snapshot), which `ic-backup load` or `snapshot upload` then puts into the canister".into(),
                ))
            }
        };
        return restore_through_layout(LayoutRestore {
            layout: &layout,
            structure,
            input: &input,
            format: args.format,
            replace: args.replace,
            into,
            json: global.json,
        });
    }
    with_target(&global.connection, |target| {
        let interface = Interface::of(target, global.connection.did.as_deref())?;
        let options = RestoreOptions {
            map: &args.map,
            input: &input,
            replace: args.replace,
            batch_bytes: args.batch_bytes,
            stop_after: args.stop_after,
            format: args.format,
            from_map: args.from_map.as_deref(),
            from_canister: args.from_canister.as_deref(),
            fields: FieldMap::parse(&args.renames, &args.drop_fields)?,
            dry_run: args.dry_run,
            json: global.json,
        };
        restore(target, &interface, options)
    })
}

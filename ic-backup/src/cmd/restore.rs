//! `ic-backup restore`.

use super::Global;
use backup_client::connect::with_target;
use backup_client::error::Result;
use backup_client::interface::Interface;
use backup_client::json::{FieldMap, Format};
use backup_client::ops::restore::{restore, RestoreOptions};
use backup_client::target::CALL_BUDGET;
use std::path::PathBuf;

/// Restore one map from a backup file
///
/// In batches under the 2 MiB ingress limit; the whole file is checked
/// against the map's types, and by the canister, before anything is
/// written, and an interrupted restore resumes when run again.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  ic-backup restore profiles -i profiles.json --replace\n  ic-backup restore members -i members-v1.json --drop-field legacy_score --rename full_name=name"
)]
pub struct Args {
    map: String,
    /// The backup file: lossless, agent-js (the article's backup.js) or
    /// plain JSON, told apart from the file itself.
    #[arg(short, long)]
    input: PathBuf,
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
    with_target(&global.connection, |target| {
        let interface = Interface::of(target, global.connection.did.as_deref())?;
        let options = RestoreOptions {
            map: &args.map,
            input: &args.input,
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

//! `ic-backup migrate`.

use super::Global;
use backup_client::connect::with_target;
use backup_client::error::Result;
use backup_client::interface::Interface;
use backup_client::ops::migrate::migrate;
use std::path::PathBuf;

/// Rewrite one map in the current layout, verified
///
/// Backs it up, restores it with --replace (which starts the map again
/// in the current layout), backs it up again and compares. For maps that
/// ic-stable-structures 0.5 wrote (`inspect` shows them as V1), whose
/// keys and values may otherwise not outgrow their slots. Resumable;
/// the backup is kept.
#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  ic-backup migrate profiles --via profiles.before.json")]
pub struct Args {
    map: String,
    /// The backup the map is rewritten from (default `<map>.migrate.json`);
    /// overwritten when a migration starts, kept when it ends.
    #[arg(long)]
    via: Option<PathBuf>,
    /// Queries in flight at once for its two backups (as for `backup`).
    #[arg(long, default_value_t = 8, value_parser = super::in_flight())]
    parallel: usize,
    /// Stop after this many steps, as if interrupted (for tests).
    #[cfg_attr(feature = "test-hooks", arg(long, hide = true))]
    #[cfg_attr(not(feature = "test-hooks"), arg(skip))]
    stop_after: Option<usize>,
}

pub fn run(args: Args, global: &Global) -> Result<()> {
    let via = args
        .via
        .unwrap_or_else(|| PathBuf::from(format!("{}.migrate.json", args.map)));
    with_target(&global.connection, |target| {
        let interface = Interface::of(target, global.connection.did.as_deref())?;
        migrate(
            target,
            &interface,
            &args.map,
            &via,
            args.parallel,
            args.stop_after,
            global.json,
        )
    })
}

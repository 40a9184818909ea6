//! `migrate`: a verified rewrite of one map in the current layout.
//!
//! A map that ic-stable-structures 0.5 or earlier wrote (the V1 layout)
//! keeps each key and value in a slot of a fixed size, and later versions
//! corrupt it when a larger one is written. The way out is to rewrite it:
//!
//! 1. back the map up to a file (lossless, resumable);
//! 2. `restore --replace` from it: every batch is validated, then
//!    `clear_<map>` starts the map again in the current layout, then the
//!    batches are restored (resumable);
//! 3. back it up again and compare with the first backup, entry by entry.
//!
//! Each finished step is recorded (after it is durable) in a state file
//! beside the backup, so an interrupted migration continues where it
//! stopped. Once the map has been cleared its data is in that backup alone:
//! a state that does not match this run is never started over.

use super::restore::{restore, RestoreOptions};
use super::typed::{backup, BackupOptions};
use super::{notice, output};
use crate::durable::with_suffix;
use crate::error::{CliError, Result};
use crate::interface::Interface;
use crate::json::Format;
use crate::resume::{Resume, Start, TargetId};
use crate::target::Target;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// What a migration is bound to: the canister (offline, the image file,
/// whatever its contents), the map and the backup file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct MigrateBinding {
    place: String,
    map: String,
    via: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Step {
    /// The backup file holds the whole map.
    BackedUp,
    /// The map was rewritten from it.
    Restored,
}

#[derive(Debug, Serialize, Deserialize)]
struct MigrateProgress {
    step: Step,
    /// The backup file's SHA-256, checked before it is restored from.
    via_sha256: String,
}

fn place(target: &TargetId) -> String {
    match target {
        TargetId::Live { url, canister } => format!("{canister} at {url}"),
        TargetId::Offline { image, .. } => image.display().to_string(),
    }
}

fn sha256_of(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|source| CliError::io(path, source))?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

fn entries_of(path: &Path) -> Result<Value> {
    let document = super::typed::read_json(path)?;
    Ok(document.get("entries").cloned().unwrap_or(Value::Null))
}

/// Rewrites `map` in the current layout through the backup file `via`.
pub fn migrate(
    target: &mut dyn Target,
    interface: &Interface,
    map: &str,
    via: &Path,
    stop_after: Option<usize>,
    json: bool,
) -> Result<()> {
    interface.map(map)?;
    let stop = |step: usize| -> Result<()> {
        if stop_after == Some(step) {
            return Err(CliError::Network(format!(
                "stopped after step {step} as asked; run the same command again to continue"
            )));
        }
        Ok(())
    };
    let binding = MigrateBinding {
        place: place(&target.id()),
        map: map.to_string(),
        via: crate::durable::absolute(via),
    };
    let (state, start) = Resume::<MigrateBinding, MigrateProgress>::open(
        &with_suffix(via, ".migrate"),
        "migrate",
        &binding,
    );
    let mut progress = match start {
        Start::Resume(progress) => Some(progress),
        Start::Fresh { why: None } => None,
        Start::Fresh { why: Some(why) } => {
            return Err(CliError::Input(format!(
                "{why}. It records a migration that may have cleared its map, whose entries are then only in its backup file: finish it with the command that started it, or restore that file with `ic-backup restore <map> -i <file> --replace`, then remove {}",
                state.path().display()
            )))
        }
    };

    if progress.is_none() {
        notice(
            json,
            &format!("migrate {map}: 1/3 backing the map up to {}", via.display()),
        );
        backup(
            target,
            interface,
            BackupOptions {
                map,
                output: via,
                format: Format::Lossless,
                max_bytes: None,
                parallel: 1,
                stop_after: None,
                json,
            },
        )?;
        let recorded = MigrateProgress {
            step: Step::BackedUp,
            via_sha256: sha256_of(via)?,
        };
        state.save(&binding, &recorded)?;
        progress = Some(recorded);
        stop(1)?;
    }
    let Some(mut progress) = progress else {
        return Err(CliError::Input("no migration progress".into()));
    };

    if progress.step == Step::BackedUp {
        let found = sha256_of(via)?;
        if found != progress.via_sha256 {
            return Err(CliError::Input(format!(
                "{} changed since the migration backed the map up to it (SHA-256 {found}, expected {}); nothing was cleared. Remove {} to start the migration again",
                via.display(),
                progress.via_sha256,
                state.path().display()
            )));
        }
        notice(
            json,
            &format!(
                "migrate {map}: 2/3 rewriting the map in the current layout from {}",
                via.display()
            ),
        );
        restore(
            target,
            interface,
            RestoreOptions {
                map,
                input: via,
                replace: true,
                batch_bytes: super::CALL_BUDGET,
                stop_after: None,
                format: Some(Format::Lossless),
                json,
            },
        )?;
        progress.step = Step::Restored;
        state.save(&binding, &progress)?;
        stop(2)?;
    }

    notice(
        json,
        &format!(
            "migrate {map}: 3/3 comparing the map with {}",
            via.display()
        ),
    );
    let check = with_suffix(via, ".check");
    backup(
        target,
        interface,
        BackupOptions {
            map,
            output: &check,
            format: Format::Lossless,
            max_bytes: None,
            parallel: 1,
            stop_after: None,
            json,
        },
    )?;
    let (before, after) = (entries_of(via)?, entries_of(&check)?);
    if before != after {
        return Err(CliError::Mismatch(format!(
            "after the rewrite `{map}` differs from its backup {} (now in {}): restore the backup with `ic-backup restore {map} -i {} --replace`",
            via.display(),
            check.display(),
            via.display()
        )));
    }
    crate::durable::remove(&check)?;
    state.remove()?;
    let count = before.as_array().map_or(0, Vec::len);
    output(
        json,
        json!({ "map": map, "entries": count, "backup": via, "verified": true }),
        || {
            format!(
                "`{map}` rewritten in the current layout: {count} entries, equal to the backup before ({}, kept)",
                via.display()
            )
        },
    );
    Ok(())
}

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

use super::backup::{backup, BackupOptions};
use super::restore::{restore, RestoreOptions};
use super::{notice, output};
use crate::durable::with_suffix;
use crate::error::{Error, Result};
use crate::interface::Interface;
use crate::json::Format;
use crate::resume::{Resume, Start, TargetId};
use crate::stream::{self, Flow};
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

/// The SHA-256 of the file at `path`, read a buffer at a time.
fn sha256_of(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|source| Error::io(path, source))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|source| Error::io(path, source))?;
    Ok(hex::encode(hasher.finalize()))
}

/// How the entries of two backup files compare.
#[derive(Debug, PartialEq, Eq)]
struct Compared {
    /// Entries in the first file.
    entries: u64,
    /// The index of the first entry that differs (or that one file has and
    /// the other has not), if any does.
    first_difference: Option<u64>,
}

/// The digest an entry is compared by: its JSON text, as the file had it
/// once parsed (both files come from the same encoder).
fn entry_digest(entry: &Value) -> Result<[u8; 16]> {
    let text = serde_json::to_vec(entry)
        .map_err(|error| Error::Input(format!("an entry could not be written back: {error}")))?;
    let digest = Sha256::digest(text);
    let mut short = [0; 16];
    short.copy_from_slice(&digest[..16]);
    Ok(short)
}

/// Compares the entries of the backup files `before` and `after`, reading
/// each from the disk one entry at a time: the first file's entries are kept
/// as 16-byte digests, never as values.
fn compare_entries(before: &Path, after: &Path) -> Result<Compared> {
    let hidden = indicatif::ProgressBar::hidden();
    let mut digests = Vec::new();
    stream::walk(before, 0, &hidden, &mut |_, _, entry| {
        digests.push(entry_digest(&entry)?);
        Ok(Flow::Next)
    })?;
    let mut first_difference = None;
    let walked = stream::walk(after, 0, &hidden, &mut |_, i, entry| {
        let digest = entry_digest(&entry)?;
        if usize::try_from(i).ok().and_then(|i| digests.get(i)) == Some(&digest) {
            return Ok(Flow::Next);
        }
        first_difference = Some(i);
        Ok(Flow::Stop)
    })?;
    let entries = digests.len() as u64;
    if let Some(walked) = walked {
        if walked.entries != entries {
            first_difference = Some(walked.entries.min(entries));
        }
    }
    Ok(Compared {
        entries,
        first_difference,
    })
}

/// Rewrites `map` in the current layout through the backup file `via`.
pub fn migrate(
    target: &mut dyn Target,
    interface: &Interface,
    map: &str,
    via: &Path,
    parallel: usize,
    stop_after: Option<usize>,
    json: bool,
) -> Result<()> {
    interface.map(map)?;
    let stop = |step: usize| -> Result<()> {
        if stop_after == Some(step) {
            return Err(Error::Stopped(format!(
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
    )?;
    let mut progress = match start {
        Start::Resume(progress) => Some(progress),
        Start::Fresh { why: None } => None,
        Start::Fresh { why: Some(why) } => {
            return Err(Error::Input(format!(
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
                parallel,
                stop_after: None,
                through_wasm: false,
                layout: None,
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
        return Err(Error::Input("no migration progress".into()));
    };

    if progress.step == Step::BackedUp {
        let found = sha256_of(via)?;
        if found != progress.via_sha256 {
            return Err(Error::Input(format!(
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
                batch_bytes: crate::target::CALL_BUDGET,
                stop_after: None,
                format: Some(Format::Lossless),
                from_map: None,
                from_canister: None,
                fields: Default::default(),
                dry_run: false,
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
            parallel,
            stop_after: None,
            through_wasm: false,
            layout: None,
            json,
        },
    )?;
    let compared = compare_entries(via, &check)?;
    if let Some(at) = compared.first_difference {
        return Err(Error::Mismatch(format!(
            "after the rewrite `{map}` differs from its backup {} from entry {at} on (the map is now in {}): restore the backup with `ic-backup restore {map} -i {} --replace`",
            via.display(),
            check.display(),
            via.display()
        )));
    }
    crate::durable::remove(&check)?;
    state.remove()?;
    let count = compared.entries;
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

#[cfg(test)]
mod tests;

//! `restore`: a backup file back into a map, checked whole before anything
//! is written, batch by batch under the ingress limit, resumable.
//!
//! The file is read from the disk as it is needed and never held whole: once
//! to check every entry and plan the batches (remembering of each batch only
//! its size and digest, of each key only a digest), once for the canister to
//! check the batches, once to send them. A batch is sent only if it is
//! exactly the one checked.
//!
//! `read.rs` reads a file in whichever form it is in and checks each entry;
//! `encode.rs` encodes entries into `restore_<map>` arguments; `plan.rs`
//! cuts them into batches and reads each again to send it; this file is the
//! command: what it is bound to, its progress, and its steps.

mod encode;
pub mod layout;
mod plan;
mod read;
#[cfg(test)]
mod tests;

use encode::*;
use plan::*;
use read::*;
pub use read::{read_entries, BackupFile};

use super::{notice, output};
use crate::durable::{self, with_suffix};
use crate::error::{Error, Result};
use crate::interface::Interface;
use crate::json::{FieldMap, Format};
use crate::progress;
use crate::resume::{Resume, Start, TargetId};
use crate::stream::Flow;
use crate::target::Target;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::{Path, PathBuf};

/// What `restore` is bound to: resuming needs the same canister (offline, the
/// image as the last recorded batch left it), map, types, file and mode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct RestoreBinding {
    target: TargetId,
    map: String,
    key_type: String,
    value_type: String,
    interface_sha256: String,
    input: PathBuf,
    input_sha256: String,
    /// The form the file was read in.
    #[serde(default)]
    format: String,
    replace: bool,
    /// Fields renamed and dropped: they shape the batches.
    #[serde(default)]
    fields: FieldMap,
}

/// How far a restore got: with `--replace`, whether the map was cleared; the
/// batches (and their entries) the canister has durably taken.
#[derive(Debug, Serialize, Deserialize)]
struct RestoreProgress {
    cleared: bool,
    batches: usize,
    entries: u64,
}

/// How `ic-backup restore` runs.
pub struct RestoreOptions<'a> {
    pub map: &'a str,
    pub input: &'a Path,
    pub replace: bool,
    /// Bytes per batch; at most [`CALL_BUDGET`](crate::target::CALL_BUDGET).
    pub batch_bytes: usize,
    pub stop_after: Option<usize>,
    /// The file's form; `None` to tell it from the file.
    pub format: Option<Format>,
    /// The map the file's header may name, other than `map`.
    pub from_map: Option<&'a str>,
    /// The canister the file's header may name, other than the target.
    pub from_canister: Option<&'a str>,
    /// Fields renamed or dropped between the file's version and the canister's.
    pub fields: FieldMap,
    /// Check everything and say what a restore would do; send nothing.
    pub dry_run: bool,
    pub json: bool,
}

/// How the types a lossless file recorded relate to the map's, if it
/// recorded them.
fn relation(
    interface: &Interface,
    types: &crate::interface::MapTypes,
    names: &std::collections::BTreeMap<String, String>,
    fields: &FieldMap,
) -> Result<Option<Vec<crate::versions::Change>>> {
    use crate::versions::{relate, FileTypes};
    let Some(file) = FileTypes::of_header(names)? else {
        return Ok(None);
    };
    let env = &interface.env;
    let mut changes = relate((&file.env, &file.key), (env, &types.key), fields, "key");
    changes.extend(relate(
        (&file.env, &file.value),
        (env, &types.value),
        fields,
        "value",
    ));
    Ok(Some(changes))
}

/// Refuses, before anything is sent, a file whose recorded types Candid's
/// subtyping does not take into the map's.
fn refuse_changes(changes: Option<&[crate::versions::Change]>, input: &Path) -> Result<()> {
    let (refusing, others): (Vec<_>, Vec<_>) = changes
        .into_iter()
        .flatten()
        .partition(|change| change.refuses());
    if refusing.is_empty() {
        return Ok(());
    }
    let list = |changes: Vec<&crate::versions::Change>| {
        changes
            .iter()
            .map(|change| change.to_string())
            .collect::<Vec<_>>()
            .join("; ")
    };
    let others = match others.is_empty() {
        true => String::new(),
        false => format!(" (and besides: {})", list(others)),
    };
    Err(Error::Input(format!(
        "{}: the types the file was written with do not go into the map's: {}{others}. Nothing was sent",
        input.display(),
        list(refusing)
    )))
}

/// Refuses a file whose header says it is the backup of another map, or of
/// another canister (as far as both are known: an offline image does not
/// know its canister's id), unless the user said so (`from_map`,
/// `from_canister`); an option that does not match the file is refused
/// too. Before anything is sent.
fn check_origin(
    names: &std::collections::BTreeMap<String, String>,
    map: &str,
    target: &TargetId,
    from_map: Option<&str>,
    from_canister: Option<&str>,
    input: &Path,
) -> Result<()> {
    let file = input.display();
    match (names.get("map").map(String::as_str), from_map) {
        (Some(named), None) if named != map => {
            return Err(Error::Input(format!(
                "{file} is a backup of the map `{named}`, not `{map}`: restoring it would put `{named}`'s entries into `{map}`. If that is what you want, say so with --from-map {named}. Nothing was sent"
            )))
        }
        (named, Some(from)) if named != Some(from) => {
            return Err(Error::Input(format!(
                "--from-map {from}: {file} is a backup of {}. Nothing was sent",
                named.map_or("a map it does not name".to_string(), |named| format!("the map `{named}`"))
            )))
        }
        _ => {}
    }
    let here = match target {
        TargetId::Live { canister, .. } => Some(canister.as_str()),
        TargetId::Offline { .. } => None,
    };
    match (names.get("canister").map(String::as_str), here, from_canister) {
        (Some(named), Some(here), None) if named != here => Err(Error::Input(format!(
            "{file} is a backup of the canister {named}, not {here}: if it is to go into this one, say so with --from-canister {named}. Nothing was sent"
        ))),
        (named, _, Some(from)) if named != Some(from) => Err(Error::Input(format!(
            "--from-canister {from}: {file} is a backup of {}. Nothing was sent",
            named.map_or("a canister it does not name".to_string(), |named| format!("the canister {named}"))
        ))),
        _ => Ok(()),
    }
}

/// `entry N` at the start of a canister's restore error: the entry's index
/// within its batch.
fn entry_index(message: &str) -> Option<(usize, &str)> {
    let rest = message.strip_prefix("entry ")?;
    let digits = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let index = rest[..digits].parse().ok()?;
    let rest = &rest[digits..];
    // The client names the key itself, from the file.
    let rest = rest
        .strip_prefix(" (key `")
        .and_then(|key| key.find("`)").map(|end| &key[end + 2..]))
        .unwrap_or(rest);
    Some((index, rest))
}

/// How many entries `map` holds now: the `len` of its first page.
fn current_len(
    target: &mut dyn Target,
    interface: &Interface,
    types: &crate::interface::MapTypes,
    map: &str,
) -> Result<u64> {
    let method = format!("backup_{map}_page");
    let arg = crate::ops::backup::page_request(interface, types, None, Some(1), None)?;
    let reply = target.query(&method, &arg)?;
    let page = crate::ops::backup::Page::decode(&reply, &interface.env, types, &method, map)?;
    Ok(page.len.unwrap_or(0))
}

/// How a canister that runs out of stack traps: past the 1 MiB wasm stack
/// Rust gives it (below address 0 of its memory: "heap out of bounds" on
/// the IC, "out of bounds memory access" in the runner), or past the IC's
/// 5 MiB native stack ("stack overflow"; "call stack exhausted" here).
const STACK_TRAPS: [&str; 4] = [
    "heap out of bounds",
    "out of bounds memory access",
    "stack overflow",
    "call stack exhausted",
];

/// Restores one map from a file: every entry is checked against the map's
/// types here and by the canister (`validate_<map>`) before anything is
/// written; with `--replace` the map is then cleared; batches follow, each
/// recorded once durable, so a rerun continues where the last one stopped.
pub fn restore(
    target: &mut dyn Target,
    interface: &Interface,
    options: RestoreOptions,
) -> Result<()> {
    let RestoreOptions {
        map,
        input,
        replace,
        batch_bytes,
        stop_after,
        format,
        from_map,
        from_canister,
        fields,
        dry_run,
        json,
    } = options;
    let types = interface.map(map)?;
    let encoder = Encoder::new(interface, &types)?;
    let budget = batch_bytes.min(crate::target::CALL_BUDGET);
    // A file of another map or canister, then types that cannot go into the
    // map's, are refused from the header, before the entries are read; a dry
    // run shows the types' relation first, which explains a refusal.
    let header = crate::stream::header(input)?;
    check_origin(&header, map, &target.id(), from_map, from_canister, input)?;
    let changes = relation(interface, &types, &header, &fields)?;
    let lines: Option<Vec<String>> = changes
        .as_ref()
        .map(|changes| changes.iter().map(ToString::to_string).collect());
    if dry_run && !json {
        match &lines {
            None => println!("{}: the file records no types (it is not lossless, or older): each entry is checked against the map's types as it is read", input.display()),
            Some(lines) if lines.is_empty() => println!("{}: written with the map's types", input.display()),
            Some(lines) => println!("{}: its types against the map's:\n  {}", input.display(), lines.join("\n  ")),
        }
    }
    refuse_changes(changes.as_deref(), input)?;
    let plan = Plan::new(&encoder, map, input, format, &fields, budget, json)?;
    // Text fields after the entries (a file written by hand) name its
    // origin too.
    check_origin(
        &plan.reading.names,
        map,
        &target.id(),
        from_map,
        from_canister,
        input,
    )?;
    if let Some((n, first)) = &plan.reading.lossy {
        notice(json, &format!(
            "warning: {} is in the agent-js form, whose numbers are JavaScript numbers: {n} of them are above 2^53 - 1 (the first at {first}) and may have been rounded when the file was written. They are restored as they are in the file",
            input.display()
        ));
    }
    plan.check_unique_keys()?;
    // A vec, log, heap or cell takes indices by its own rules: checked
    // here for the whole file, so that a gap in a later batch is found
    // before the first is sent.
    let kind = crate::layout::Layout::of(target)?
        .and_then(|layout| layout.get(map).map(|structure| structure.kind));
    if let Some(kind) = kind.filter(|kind| kind.indexed()) {
        let len = if replace {
            0
        } else {
            current_len(target, interface, &types, map)?
        };
        crate::layout::check_indices(kind, map, &plan.indices, len)
            .map_err(|error| Error::Input(format!("{}: {error}", input.display())))?;
    }
    if dry_run {
        output(
            json,
            json!({ "map": map, "entries": plan.reading.entries, "batches": plan.batches.len(), "changes": lines, "dropped": plan.reading.dropped, "sent": false }),
            || {
                format!(
                    "a restore would write {} entries into `{map}` in {} batches; nothing was sent",
                    plan.reading.entries,
                    plan.batches.len()
                )
            },
        );
        return Ok(());
    }
    let batches = plan.batches.len();

    // Offline, the target's part of the binding (the image's digest) moves
    // with every batch; it is read again each time progress is saved.
    let mut binding = RestoreBinding {
        target: target.id(),
        map: map.to_string(),
        key_type: types.key.to_string(),
        value_type: types.value.to_string(),
        interface_sha256: interface.sha256.clone(),
        input: durable::absolute(input),
        input_sha256: plan.reading.sha256.clone(),
        format: plan.reading.format.name().to_string(),
        replace,
        fields: fields.clone(),
    };
    // The file's progress is this run's from here on (another run on it is
    // refused), before the canister is asked anything.
    let (state, start) = Resume::<RestoreBinding, RestoreProgress>::open(
        &with_suffix(input, ".restore-progress"),
        "restore",
        &binding,
    )?;
    let mut progress = match start {
        Start::Resume(progress) if progress.batches <= batches => progress,
        Start::Resume(_) => {
            notice(
                json,
                &format!(
                    "{} records more batches than the file has; starting over",
                    state.path().display()
                ),
            );
            RestoreProgress {
                cleared: false,
                batches: 0,
                entries: 0,
            }
        }
        Start::Fresh { why } => {
            if let Some(why) = why {
                notice(json, &why);
            }
            RestoreProgress {
                cleared: false,
                batches: 0,
                entries: 0,
            }
        }
    };
    let can_validate = interface.method(&format!("validate_{map}")).is_ok();
    if can_validate {
        plan.validate(target, json)?;
    } else if replace {
        return Err(Error::Input(format!(
            "the canister has no `validate_{map}` (it was built with an older backup-runtime): without it a --replace cannot be all-or-nothing. Upgrade the canister, or restore without --replace"
        )));
    } else {
        notice(json, &format!(
            "warning: the canister has no `validate_{map}` (an older backup-runtime): a batch it refuses leaves the batches before it restored"
        ));
    }

    if replace && !progress.cleared {
        let reply = target.update(&format!("clear_{map}"), &candid::encode_args(())?)?;
        let cleared: u64 = candid::decode_one(&reply)
            .map_err(Error::candid(format!("the reply of `clear_{map}`")))?;
        notice(json, &format!("every entry was accepted; cleared {cleared} entries of `{map}` for the exact restore"));
        progress.cleared = true;
        if target.checkpoint()? {
            binding.target = target.id();
            state.save(&binding, &progress)?;
        }
    }
    let method = format!("restore_{map}");
    let bar = progress::bar(
        Some(plan.reading.entries),
        &format!("restore {map}"),
        false,
        json,
    );
    bar.set_position(progress.entries);
    let mut sent = 0usize;
    let mut stopped = false;
    let all_sent = plan.each_batch(progress.batches, &mut |_, _, count, arg| {
        if stop_after == Some(sent) {
            stopped = true;
            return Ok(Flow::Stop);
        }
        let reply = target.update(&method, arg)?;
        let result: std::result::Result<u64, String> = candid::decode_one(&reply)
            .map_err(Error::candid(format!("the reply of `{method}`")))?;
        let inserted = result.map_err(|error| Error::Rejected {
            method: method.clone(),
            message: error,
        })?;
        if inserted != count as u64 {
            return Err(Error::Rejected {
                method: method.clone(),
                message: format!("expected {count} entries restored, the canister says {inserted}"),
            });
        }
        progress.entries += inserted;
        progress.batches += 1;
        if target.checkpoint()? {
            binding.target = target.id();
            state.save(&binding, &progress)?;
        }
        bar.set_position(progress.entries);
        sent += 1;
        Ok(Flow::Next)
    })?;
    if stopped || !all_sent {
        bar.abandon();
        target.finish()?;
        return Err(Error::Stopped(format!(
            "stopped after {sent} batches as asked; run the same command again to resume"
        )));
    }
    bar.finish_and_clear();
    target.finish()?;
    state.remove()?;
    let restored = progress.entries;
    output(
        json,
        json!({ "map": map, "entries": restored, "batches": batches, "replaced": replace, "dropped": plan.reading.dropped }),
        || {
            let dropped: Vec<String> = plan
                .reading
                .dropped
                .iter()
                .map(|(field, n)| format!("{n} values of `{field}`"))
                .collect();
            let dropped = match dropped.is_empty() {
                true => String::new(),
                false => format!("; dropped, as asked: {}", dropped.join(", ")),
            };
            format!("{restored} entries restored into `{map}` in {batches} batches{dropped}")
        },
    );
    Ok(())
}

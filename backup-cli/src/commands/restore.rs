//! `restore`: a backup file back into a map, checked whole before anything
//! is written, batch by batch under the ingress limit, resumable.

use super::typed::{field_by_id, parse_json, LOSSLESS_FORMAT};
use super::{notice, output};
use crate::durable::{self, with_suffix};
use crate::error::{CliError, Result};
use crate::interface::{Interface, MapTypes};
use crate::json::{to_json, Codec, Format};
use crate::progress;
use crate::resume::{Resume, Start, TargetId};
use crate::target::Target;
use backup_runtime::limits::MAX_ENTRY_BYTES;
use candid::types::value::IDLValue;
use candid::types::TypeInner;
use candid::IDLArgs;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// A backup file read and checked against the map's types.
pub struct BackupFile {
    pub entries: Vec<IDLValue>,
    /// The form the file was read in.
    pub format: Format,
    /// Numbers that the form holds inexactly (agent-js above 2^53), and where the first is.
    pub lossy: Option<(u64, String)>,
    /// The SHA-256 of the file as it was read, for binding a resume to it.
    pub sha256: String,
}

/// The entries of a backup file (any format) as Candid values of the map's
/// entry type, all checked before anything is sent. An array of entries is
/// read in `format`, or, without one, in whichever of the agent-js and
/// plain forms it is written in; a file both read differently is refused.
pub fn read_entries(
    interface: &Interface,
    types: &MapTypes,
    path: &Path,
    format: Option<Format>,
) -> Result<BackupFile> {
    let bytes = std::fs::read(path).map_err(|source| CliError::io(path, source))?;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let document = parse_json(path, &bytes)?;
    drop(bytes);
    let in_file =
        |error: CliError| CliError::Input(format!("{}: {error}; nothing was sent", path.display()));
    let (entries, forms): (_, &[Format]) = match (&document, format) {
        (Value::Object(object), None | Some(Format::Lossless))
            if object.get("format").and_then(Value::as_str) == Some(LOSSLESS_FORMAT) =>
        {
            let entries = object
                .get("entries")
                .and_then(Value::as_array)
                .ok_or_else(|| {
                    CliError::Input(format!(
                        "{}: a lossless backup without `entries`",
                        path.display()
                    ))
                })?;
            (entries, &[Format::Lossless])
        }
        (Value::Array(entries), None) => (entries, &[Format::AgentJs, Format::Json]),
        (Value::Array(entries), Some(Format::AgentJs)) => (entries, &[Format::AgentJs]),
        (Value::Array(entries), Some(Format::Json)) => (entries, &[Format::Json]),
        (_, format) => {
            let expected = match format {
                Some(Format::Lossless) => format!("a lossless file (`\"format\": \"{LOSSLESS_FORMAT}\"`)"),
                Some(format) => format!("`[[key, value], ...]` (the {} form)", format.name()),
                None => format!("a backup: `[[key, value], ...]` or a lossless file (`\"format\": \"{LOSSLESS_FORMAT}\"`)"),
            };
            return Err(CliError::Input(format!(
                "{}: expected {expected}",
                path.display()
            )));
        }
    };
    let TypeInner::Vec(entry_type) = interface
        .env
        .trace_type(&types.entries)
        .map(|t| t.as_ref().clone())?
    else {
        return Err(CliError::Input(
            "the restore endpoint does not take a vector".into(),
        ));
    };
    let path_of = |i: usize| format!("entry {i}");
    let finish = |codec: Codec, entries: Vec<IDLValue>| {
        let lossy =
            (codec.lossy() > 0).then(|| (codec.lossy(), codec.first_lossy().unwrap_or_default()));
        BackupFile {
            entries,
            format: codec.format(),
            lossy,
            sha256: sha256.clone(),
        }
    };
    let read = |format: Format| -> Result<BackupFile> {
        let codec = Codec::new(&interface.env, format);
        let read = entries
            .iter()
            .enumerate()
            .map(|(i, entry)| codec.from_json(&entry_type, entry, &path_of(i)))
            .collect::<Result<_>>()?;
        Ok(finish(codec, read))
    };
    if let [only] = forms {
        return read(*only).map_err(in_file);
    }
    // Which form: the file is read as agent-js; each entry is also read as
    // plain JSON until that fails (at the first `opt` holding a value, in an
    // agent-js file). A file plain JSON reads whole, with other values, is
    // left for the user to say.
    let agent_js = Codec::new(&interface.env, Format::AgentJs);
    let plain = Codec::new(&interface.env, Format::Json);
    let mut plain_reads = true;
    let mut differs = None;
    let mut read_entries = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        match agent_js.from_json(&entry_type, entry, &path_of(i)) {
            Ok(value) => {
                if plain_reads {
                    match plain.from_json(&entry_type, entry, &path_of(i)) {
                        Ok(other) => {
                            if other != value {
                                differs.get_or_insert(i);
                            }
                        }
                        Err(_) => plain_reads = false,
                    }
                }
                read_entries.push(value);
            }
            Err(not_agent_js) => {
                return read(Format::Json).map_err(|not_plain| {
                    CliError::Input(format!(
                        "{}: not a backup of this map in the agent-js form ({not_agent_js}) nor in plain JSON ({not_plain}); nothing was sent",
                        path.display()
                    ))
                })
            }
        }
    }
    if let (true, Some(i)) = (plain_reads, differs) {
        return Err(CliError::Input(format!(
            "{}: the file reads as the agent-js form (`opt` as [] or [x]) and as plain JSON (`opt` as null or x), with different values from entry {i} on; say which with --format agent-js or --format json. Nothing was sent",
            path.display()
        )));
    }
    Ok(finish(agent_js, read_entries))
}

/// Splits `entries` into `restore_<map>` arguments of at most `budget`
/// bytes; an entry too large to share a batch travels alone, up to the
/// [`MAX_ENTRY_BYTES`] one restore call can carry (what backup pages keep to).
pub fn batches(
    interface: &Interface,
    types: &MapTypes,
    entries: &[IDLValue],
    budget: usize,
) -> Result<Vec<(usize, Vec<u8>)>> {
    let encode = |slice: &[IDLValue]| -> Result<Vec<u8>> {
        Ok(IDLArgs::new(&[IDLValue::Vec(slice.to_vec())])
            .to_bytes_with_types(&interface.env, std::slice::from_ref(&types.entries))?)
    };
    let header = encode(&[])?.len() - 1;
    let mut out = Vec::new();
    let mut start = 0;
    let mut size = header + 5;
    for (i, entry) in entries.iter().enumerate() {
        let entry_size = encode(std::slice::from_ref(entry))?.len() - header - 1;
        if header + 1 + entry_size > MAX_ENTRY_BYTES as usize {
            return Err(CliError::Input(format!(
                "entry {i} (key {}) alone encodes to {entry_size} bytes, over the {MAX_ENTRY_BYTES} bytes one restore call can carry",
                key_text(interface, types, entry)
            )));
        }
        if i > start && size + entry_size > budget {
            out.push((i - start, encode(&entries[start..i])?));
            start = i;
            size = header + 5;
        }
        size += entry_size;
    }
    if start < entries.len() {
        out.push((entries.len() - start, encode(&entries[start..])?));
    }
    Ok(out)
}

/// The key of an entry as it is in a lossless file, for messages.
fn key_text(interface: &Interface, types: &MapTypes, entry: &IDLValue) -> String {
    let IDLValue::Record(pair) = entry else {
        return "?".into();
    };
    field_by_id(pair, 0)
        .and_then(|key| to_json(&interface.env, &types.key, key, Format::Lossless).ok())
        .map_or_else(|| "?".into(), |key| key.to_string())
}

/// Refuses a file that names a key twice: restoring it would report more
/// entries than it stores, and which value wins would depend on batching.
fn check_unique_keys(
    interface: &Interface,
    types: &MapTypes,
    entries: &[IDLValue],
    path: &Path,
) -> Result<()> {
    let mut seen = std::collections::HashMap::new();
    for (i, entry) in entries.iter().enumerate() {
        let IDLValue::Record(pair) = entry else {
            continue;
        };
        let Some(key) = field_by_id(pair, 0) else {
            continue;
        };
        if let Some(first) = seen.insert(key.to_string(), i) {
            return Err(CliError::Input(format!(
                "{}: entry {i} (key {}) repeats the key of entry {first}; each key may appear once. Nothing was sent",
                path.display(),
                key_text(interface, types, entry)
            )));
        }
    }
    Ok(())
}

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
    /// Bytes per batch; at most [`CALL_BUDGET`](super::CALL_BUDGET).
    pub batch_bytes: usize,
    pub stop_after: Option<usize>,
    /// The file's form; `None` to tell it from the file.
    pub format: Option<Format>,
    pub json: bool,
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

/// A file read, checked and cut into batches, ready to be sent.
struct Plan<'a> {
    interface: &'a Interface,
    types: MapTypes,
    map: &'a str,
    input: &'a Path,
    entries: Vec<IDLValue>,
    batches: Vec<(usize, Vec<u8>)>,
}

impl Plan<'_> {
    /// Asks the canister to check every batch (`validate_<map>`, a query that
    /// writes nothing), so that a file it would refuse is refused before
    /// anything is written. Errors name the entry's index in the file and its key.
    fn validate(&self, target: &mut dyn Target, json: bool) -> Result<()> {
        let method = format!("validate_{}", self.map);
        let bar = progress::bar(
            Some(self.entries.len() as u64),
            &format!("check {}", self.map),
            false,
            json,
        );
        let mut first = 0usize;
        for (count, arg) in &self.batches {
            let reply = target.query(&method, arg)?;
            let answer: std::result::Result<u64, String> = candid::decode_one(&reply)?;
            match answer {
                Ok(n) if n == *count as u64 => {}
                Ok(n) => {
                    return Err(CliError::Rejected {
                        method,
                        message: format!("expected {count} entries checked, the canister says {n}"),
                    })
                }
                Err(message) => {
                    bar.abandon();
                    let located = entry_index(&message).and_then(|(index, rest)| {
                        let entry = self.entries.get(first + index)?;
                        Some(format!(
                            "{}: entry {} (key {}){rest}",
                            self.input.display(),
                            first + index,
                            key_text(self.interface, &self.types, entry)
                        ))
                    });
                    return Err(CliError::Rejected {
                        method,
                        message: located.unwrap_or(message),
                    });
                }
            }
            first += count;
            bar.set_position(first as u64);
        }
        bar.finish_and_clear();
        Ok(())
    }
}

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
        json,
    } = options;
    let types = interface.map(map)?;
    let BackupFile {
        entries,
        format,
        lossy,
        sha256,
    } = read_entries(interface, &types, input, format)?;
    if let Some((n, first)) = lossy {
        notice(json, &format!(
            "warning: {} is in the agent-js form, whose numbers are JavaScript numbers: {n} of them are above 2^53 - 1 (the first at {first}) and may have been rounded when the file was written. They are restored as they are in the file",
            input.display()
        ));
    }
    check_unique_keys(interface, &types, &entries, input)?;
    let batches = batches(
        interface,
        &types,
        &entries,
        batch_bytes.min(super::CALL_BUDGET),
    )
    .map_err(|error| CliError::Input(format!("{}: {error}; nothing was sent", input.display())))?;
    let plan = Plan {
        interface,
        types,
        map,
        input,
        entries,
        batches,
    };
    let Plan {
        types,
        entries,
        batches,
        ..
    } = &plan;

    let can_validate = interface.method(&format!("validate_{map}")).is_ok();
    if can_validate {
        plan.validate(target, json)?;
    } else if replace {
        return Err(CliError::Input(format!(
            "the canister has no `validate_{map}` (it was built with an older backup-runtime): without it a --replace cannot be all-or-nothing. Upgrade the canister, or restore without --replace"
        )));
    } else {
        notice(json, &format!(
            "warning: the canister has no `validate_{map}` (an older backup-runtime): a batch it refuses leaves the batches before it restored"
        ));
    }

    // Offline, the target's part of the binding (the image's digest) moves
    // with every batch; it is read again each time progress is saved.
    let mut binding = RestoreBinding {
        target: target.id(),
        map: map.to_string(),
        key_type: types.key.to_string(),
        value_type: types.value.to_string(),
        interface_sha256: interface.sha256.clone(),
        input: durable::absolute(input),
        input_sha256: sha256,
        format: format.name().to_string(),
        replace,
    };
    let (state, start) = Resume::<RestoreBinding, RestoreProgress>::open(
        &with_suffix(input, ".restore-progress"),
        "restore",
        &binding,
    );
    let mut progress = match start {
        Start::Resume(progress) if progress.batches <= batches.len() => progress,
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
    if replace && !progress.cleared {
        let reply = target.update(&format!("clear_{map}"), &candid::encode_args(())?)?;
        let cleared: u64 = candid::decode_one(&reply)?;
        notice(json, &format!("every entry was accepted; cleared {cleared} entries of `{map}` for the exact restore"));
        progress.cleared = true;
        if target.checkpoint()? {
            binding.target = target.id();
            state.save(&binding, &progress)?;
        }
    }
    let method = format!("restore_{map}");
    let bar = progress::bar(
        Some(entries.len() as u64),
        &format!("restore {map}"),
        false,
        json,
    );
    bar.set_position(progress.entries);
    for (sent, (count, arg)) in batches.iter().skip(progress.batches).enumerate() {
        if stop_after == Some(sent) {
            bar.abandon();
            target.finish()?;
            return Err(CliError::Network(format!(
                "stopped after {sent} batches as asked; run the same command again to resume"
            )));
        }
        let reply = target.update(&method, arg)?;
        let result: std::result::Result<u64, String> = candid::decode_one(&reply)?;
        let inserted = result.map_err(|error| CliError::Rejected {
            method: method.clone(),
            message: error,
        })?;
        if inserted != *count as u64 {
            return Err(CliError::Rejected {
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
    }
    bar.finish_and_clear();
    target.finish()?;
    state.remove()?;
    let restored = progress.entries;
    output(
        json,
        json!({ "map": map, "entries": restored, "batches": batches.len(), "replaced": replace }),
        || {
            format!(
                "{restored} entries restored into `{map}` in {} batches",
                batches.len()
            )
        },
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::typed::tests::DID;
    use candid::types::value::IDLField;

    #[test]
    fn restore_batches_fit_the_budget_and_keep_every_entry() {
        let interface = Interface::parse(DID).unwrap();
        let types = interface.map("things").unwrap();
        let entry = |i: u64| {
            IDLValue::Record(vec![
                IDLField {
                    id: candid::types::Label::Id(0),
                    val: IDLValue::Text(format!("key-{i:04}")),
                },
                IDLField {
                    id: candid::types::Label::Id(1),
                    val: IDLValue::Record(vec![IDLField {
                        id: candid::types::Label::Named("n".into()),
                        val: IDLValue::Nat64(i),
                    }]),
                },
            ])
        };
        let entries: Vec<IDLValue> = (0..1000).map(entry).collect();
        let batches = batches(&interface, &types, &entries, 1000).unwrap();
        assert!(batches.len() > 10);
        let mut seen = Vec::new();
        for (count, arg) in &batches {
            assert!(arg.len() <= 1000, "a batch of {} bytes", arg.len());
            let args = IDLArgs::from_bytes(arg).unwrap();
            let IDLValue::Vec(items) = &args.args[0] else {
                panic!("not a vector")
            };
            assert_eq!(items.len(), *count);
            seen.extend(items.iter().cloned());
        }
        assert_eq!(seen.len(), 1000);
        // A budget under one entry: each travels alone.
        let alone = super::batches(&interface, &types, &entries[..5], 10).unwrap();
        assert_eq!(
            alone.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            vec![1; 5]
        );
        // An entry no restore call can carry is named by its index and key.
        let mut huge = entries[..3].to_vec();
        huge[2] = IDLValue::Record(vec![
            IDLField {
                id: candid::types::Label::Id(0),
                val: IDLValue::Text("k".repeat(MAX_ENTRY_BYTES as usize)),
            },
            IDLField {
                id: candid::types::Label::Id(1),
                val: IDLValue::Record(vec![IDLField {
                    id: candid::types::Label::Named("n".into()),
                    val: IDLValue::Nat64(1),
                }]),
            },
        ]);
        let error = super::batches(&interface, &types, &huge, 1000)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("entry 2 (key \"kkk") && error.contains("alone encodes"),
            "{}",
            &error[..200]
        );
    }

    #[test]
    fn a_canister_error_is_located_in_the_file_once() {
        assert_eq!(
            entry_index("entry 12 (key `a`b`): too big"),
            Some((12, ": too big"))
        );
        assert_eq!(entry_index("entry 3: bad"), Some((3, ": bad")));
        assert_eq!(entry_index("no entry"), None);
    }
}

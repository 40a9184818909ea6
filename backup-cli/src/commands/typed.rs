//! `backup` and `restore`: typed entries, page by page and batch by batch,
//! both resumable.

use super::{notice, output};
use crate::error::{CliError, Result};
use crate::interface::{Interface, MapTypes};
use crate::json::{from_json, to_json, Format};
use crate::progress;
use crate::target::Target;
use candid::types::value::{IDLField, IDLValue};
use candid::types::{Type, TypeInner};
use candid::IDLArgs;
use serde_json::{json, Value};
use backup_runtime::limits::MAX_ENTRY_BYTES;
use sha2::{Digest, Sha256};
use crate::durable::{self, with_suffix};
use crate::resume::{Resume, Start, TargetId};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The marker of a lossless backup file.
pub const LOSSLESS_FORMAT: &str = "ic-backup/lossless-1";

fn read_json(path: &Path) -> Result<Value> {
    let bytes = std::fs::read(path).map_err(|source| CliError::io(path, source))?;
    serde_json::from_slice(&bytes)
        .map_err(|error| CliError::Input(format!("{}: not JSON: {error}", path.display())))
}

fn field<'a>(fields: &'a [IDLField], name: &str) -> Option<&'a IDLValue> {
    field_by_id(fields, candid::idl_hash(name))
}

fn opt_type(ty: &Type) -> Type {
    TypeInner::Opt(ty.clone()).into()
}

/// The argument of `backup_<map>_page(after, max_bytes)`.
pub fn page_request(
    interface: &Interface,
    types: &MapTypes,
    after: Option<IDLValue>,
    max_bytes: Option<u64>,
) -> Result<Vec<u8>> {
    let after = after.map_or(IDLValue::None, |key| IDLValue::Opt(Box::new(key)));
    let max = max_bytes.map_or(IDLValue::None, |n| {
        IDLValue::Opt(Box::new(IDLValue::Nat64(n)))
    });
    let nat64: Type = TypeInner::Nat64.into();
    Ok(IDLArgs::new(&[after, max])
        .to_bytes_with_types(&interface.env, &[opt_type(&types.key), opt_type(&nat64)])?)
}

/// What `backup` is bound to: resuming needs the same canister (offline, the
/// same image, unchanged), map, types, output file and format.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct BackupBinding {
    target: TargetId,
    map: String,
    key_type: String,
    value_type: String,
    output: PathBuf,
    format: String,
}

/// How far a backup got: the lines of `bytes` bytes (SHA-256 `partial_sha256`)
/// in the partial file hold `entries` entries up to the key `cursor`.
#[derive(Debug, Serialize, Deserialize)]
struct BackupProgress {
    cursor: Value,
    entries: u64,
    bytes: u64,
    partial_sha256: String,
    skipped: Vec<Value>,
}

/// How `ic-backup backup` runs.
pub struct BackupOptions<'a> {
    pub map: &'a str,
    pub output: &'a Path,
    pub format: Format,
    pub max_bytes: Option<u64>,
    pub stop_after: Option<usize>,
    pub json: bool,
}

/// Backs up one map page by page into a partial file, recording after each
/// durable page where the next one starts; then writes the backup file
/// atomically. Entries too large to restore are named, the file is written
/// without them, and the command fails.
pub fn backup(target: &mut dyn Target, interface: &Interface, options: BackupOptions) -> Result<()> {
    let BackupOptions {
        map,
        output: output_path,
        format,
        max_bytes,
        stop_after,
        json,
    } = options;
    let types = interface.map(map)?;
    let env = &interface.env;
    let method = format!("backup_{map}_page");
    let partial = with_suffix(output_path, ".partial");
    durable::clear_stale(output_path)?;
    let binding = BackupBinding {
        target: target.id(),
        map: map.to_string(),
        key_type: types.key.to_string(),
        value_type: types.value.to_string(),
        output: durable::absolute(output_path),
        format: format!("{format:?}").to_lowercase(),
    };
    let (state, start) = Resume::<BackupBinding, BackupProgress>::open(
        &with_suffix(output_path, ".progress"),
        "backup",
        &binding,
    );
    // Resume only over a partial file whose recorded prefix is intact.
    let resumed = match start {
        Start::Resume(progress) => {
            match durable::intact_prefix(&partial, progress.bytes, &progress.partial_sha256)? {
                Ok(hasher) => Some((progress, hasher)),
                Err(why) => {
                    notice(json, &why);
                    None
                }
            }
        }
        Start::Fresh { why } => {
            if let Some(why) = why {
                notice(json, &why);
            }
            None
        }
    };
    let (mut cursor, mut count, mut written, mut hasher, mut skipped) = match resumed {
        Some((progress, hasher)) => {
            let cursor = match &progress.cursor {
                Value::Null => None,
                key => Some(from_json(env, &types.key, key, Format::Lossless, "the saved cursor")?),
            };
            (cursor, progress.entries, progress.bytes, hasher, progress.skipped)
        }
        None => (None, 0, 0, Sha256::new(), Vec::new()),
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(&partial)
        .map_err(|source| CliError::io(&partial, source))?;
    // Drop anything written after the last recorded page.
    file.set_len(written)
        .map_err(|source| CliError::io(&partial, source))?;
    let mut file = std::io::BufWriter::new(file);
    use std::io::Seek;
    file.seek(std::io::SeekFrom::End(0))
        .map_err(|source| CliError::io(&partial, source))?;

    let bar = progress::bar(None, &format!("backup {map}"), false, json);
    bar.set_position(count);
    let mut pages = 0usize;
    let mut received = 0u64;
    loop {
        if stop_after == Some(pages) {
            bar.abandon();
            return Err(CliError::Network(format!(
                "stopped after {pages} pages as asked; run the same command again to resume from entry {count}"
            )));
        }
        let arg = page_request(interface, &types, cursor.clone(), max_bytes)?;
        let reply = target.query(&method, &arg)?;
        received += reply.len() as u64;
        bar.set_message(format!(
            "backup {map}: {} received",
            indicatif::HumanBytes(received)
        ));
        let page = IDLArgs::from_bytes_with_types(&reply, env, std::slice::from_ref(&types.page))?;
        let Some(IDLValue::Record(fields)) = page.args.first() else {
            return Err(CliError::Input(format!(
                "`{method}` returned something other than a page"
            )));
        };
        let entries = match field(fields, "entries") {
            Some(IDLValue::Vec(entries)) => entries.as_slice(),
            _ => &[],
        };
        if let Some(IDLValue::Nat64(len)) = field(fields, "len") {
            bar.set_length(*len);
        }
        for entry in entries {
            let IDLValue::Record(pair) = entry else {
                continue;
            };
            let key = field_by_id(pair, 0)
                .ok_or_else(|| CliError::Input("an entry without a key".into()))?;
            let value = field_by_id(pair, 1)
                .ok_or_else(|| CliError::Input("an entry without a value".into()))?;
            let line = json!([
                to_json(env, &types.key, key, format)?,
                to_json(env, &types.value, value, format)?
            ]);
            let mut bytes =
                serde_json::to_vec(&line).map_err(|e| CliError::Input(e.to_string()))?;
            bytes.push(b'\n');
            file.write_all(&bytes)
                .map_err(|source| CliError::io(&partial, source))?;
            hasher.update(&bytes);
            written += bytes.len() as u64;
            count += 1;
        }
        // Canisters built before pages named the entries they leave out have
        // no `skipped` field.
        if let Some(IDLValue::Vec(keys)) = field(fields, "skipped") {
            for key in keys {
                let key = to_json(env, &types.key, key, Format::Lossless)?;
                bar.suspend(|| notice(json, &format!("skipped: the entry with key {key} is too large for one restore call")));
                skipped.push(key);
            }
        }
        file.flush()
            .map_err(|source| CliError::io(&partial, source))?;
        file.get_ref()
            .sync_data()
            .map_err(|source| CliError::io(&partial, source))?;
        pages += 1;
        bar.set_position(count);
        let next = match field(fields, "next") {
            Some(IDLValue::Opt(key)) => Some(key.as_ref().clone()),
            _ => None,
        };
        let Some(next) = next else { break };
        let progress = BackupProgress {
            cursor: to_json(env, &types.key, &next, Format::Lossless)?,
            entries: count,
            bytes: written,
            partial_sha256: hex::encode(hasher.clone().finalize()),
            skipped: skipped.clone(),
        };
        state.save(&binding, &progress)?;
        cursor = Some(next);
    }
    drop(file);
    bar.finish_and_clear();

    // Assemble the file from the lines of the partial file.
    let lines =
        std::fs::read_to_string(&partial).map_err(|source| CliError::io(&partial, source))?;
    let entries: Vec<Value> = lines
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .map_err(|e| CliError::Input(format!("{}: {e}", partial.display())))
        })
        .collect::<Result<_>>()?;
    let document = match format {
        Format::Json => Value::Array(entries),
        Format::Lossless => {
            let mut document = json!({
                "format": LOSSLESS_FORMAT,
                "map": map,
                "key": types.key.to_string(),
                "value": types.value.to_string(),
                "entries": entries,
            });
            if !skipped.is_empty() {
                // The file says itself that it is not the whole map.
                document["skipped"] = Value::Array(skipped.clone());
            }
            document
        }
    };
    let text = serde_json::to_vec_pretty(&document).map_err(|e| CliError::Input(e.to_string()))?;
    durable::write_atomically(output_path, &text)?;
    durable::remove(&partial)?;
    state.remove()?;
    output(
        json,
        json!({ "map": map, "entries": count, "pages": pages, "file": output_path, "skipped": skipped }),
        || {
            format!(
                "{count} entries of `{map}` in {pages} pages -> {}",
                output_path.display()
            )
        },
    );
    if !skipped.is_empty() {
        let keys: Vec<String> = skipped.iter().map(Value::to_string).collect();
        return Err(CliError::Incomplete(format!(
            "{} entries of `{map}` are not in {}: each is too large for one restore call (2 MiB of ingress), so the canister left it out rather than back it up in a form restore cannot take back. Their keys: {}. They are still in the canister and in a raw dump (`ic-backup dump`).",
            skipped.len(),
            output_path.display(),
            keys.join(", ")
        )));
    }
    Ok(())
}

fn field_by_id(fields: &[IDLField], id: u32) -> Option<&IDLValue> {
    fields.iter().find(|f| f.id.get_id() == id).map(|f| &f.val)
}

/// The entries of a backup file (either format) as Candid values of the
/// map's entry type, all checked before anything is sent.
pub fn read_entries(interface: &Interface, types: &MapTypes, path: &Path) -> Result<Vec<IDLValue>> {
    let document = read_json(path)?;
    let (entries, format) = match &document {
        Value::Array(entries) => (entries, Format::Json),
        Value::Object(object) if object.get("format").and_then(Value::as_str) == Some(LOSSLESS_FORMAT) => {
            let entries = object.get("entries").and_then(Value::as_array).ok_or_else(|| {
                CliError::Input(format!("{}: a lossless backup without `entries`", path.display()))
            })?;
            (entries, Format::Lossless)
        }
        _ => {
            return Err(CliError::Input(format!(
                "{}: expected a backup: `[[key, value], ...]` or a lossless file (`\"format\": \"{LOSSLESS_FORMAT}\"`)",
                path.display()
            )))
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
    entries
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            from_json(
                &interface.env,
                &entry_type,
                entry,
                format,
                &format!("entry {i}"),
            )
            .map_err(|error| {
                CliError::Input(format!("{}: {error}; nothing was sent", path.display()))
            })
        })
        .collect()
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
fn check_unique_keys(interface: &Interface, types: &MapTypes, entries: &[IDLValue], path: &Path) -> Result<()> {
    let mut seen = std::collections::HashMap::new();
    for (i, entry) in entries.iter().enumerate() {
        let IDLValue::Record(pair) = entry else { continue };
        let Some(key) = field_by_id(pair, 0) else { continue };
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
    input: PathBuf,
    input_sha256: String,
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
    pub json: bool,
}

/// `entry N` at the start of a canister's restore error: the entry's index
/// within its batch.
fn entry_index(message: &str) -> Option<(usize, &str)> {
    let rest = message.strip_prefix("entry ")?;
    let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    let index = rest[..digits].parse().ok()?;
    Some((index, &rest[digits..]))
}

/// Asks the canister to check every batch (`validate_<map>`, a query that
/// writes nothing), so that a file it would refuse is refused before
/// anything is written. Errors name the entry's index in the file and its key.
fn validate_all(
    target: &mut dyn Target,
    interface: &Interface,
    types: &MapTypes,
    map: &str,
    input: &Path,
    entries: &[IDLValue],
    batches: &[(usize, Vec<u8>)],
    json: bool,
) -> Result<()> {
    let method = format!("validate_{map}");
    let bar = progress::bar(Some(entries.len() as u64), &format!("check {map}"), false, json);
    let mut first = 0usize;
    for (count, arg) in batches {
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
                    let entry = entries.get(first + index)?;
                    Some(format!(
                        "{}: entry {} (key {}){rest}",
                        input.display(),
                        first + index,
                        key_text(interface, types, entry)
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

/// Restores one map from a file: every entry is checked against the map's
/// types here and by the canister (`validate_<map>`) before anything is
/// written; with `--replace` the map is then cleared; batches follow, each
/// recorded once durable, so a rerun continues where the last one stopped.
pub fn restore(target: &mut dyn Target, interface: &Interface, options: RestoreOptions) -> Result<()> {
    let RestoreOptions {
        map,
        input,
        replace,
        batch_bytes,
        stop_after,
        json,
    } = options;
    let types = interface.map(map)?;
    let bytes = std::fs::read(input).map_err(|source| CliError::io(input, source))?;
    let entries = read_entries(interface, &types, input)?;
    check_unique_keys(interface, &types, &entries, input)?;
    let batches = batches(interface, &types, &entries, batch_bytes.min(super::CALL_BUDGET))
        .map_err(|error| CliError::Input(format!("{}: {error}; nothing was sent", input.display())))?;

    let can_validate = interface.method(&format!("validate_{map}")).is_ok();
    if can_validate {
        validate_all(target, interface, &types, map, input, &entries, &batches, json)?;
    } else if replace {
        return Err(CliError::Input(format!(
            "the canister has no `validate_{map}` (it was built with an older backup-runtime): without it a --replace cannot be all-or-nothing. Upgrade the canister, or restore without --replace"
        )));
    } else {
        notice(json, &format!(
            "warning: the canister has no `validate_{map}` (an older backup-runtime): a batch it refuses leaves the batches before it restored"
        ));
    }

    let binding = |target: &dyn Target| RestoreBinding {
        target: target.id(),
        map: map.to_string(),
        key_type: types.key.to_string(),
        value_type: types.value.to_string(),
        input: durable::absolute(input),
        input_sha256: hex::encode(Sha256::digest(&bytes)),
        replace,
    };
    let (state, start) = Resume::<RestoreBinding, RestoreProgress>::open(
        &with_suffix(input, ".restore-progress"),
        "restore",
        &binding(target),
    );
    let mut progress = match start {
        Start::Resume(progress) if progress.batches <= batches.len() => progress,
        Start::Resume(_) => {
            notice(json, &format!("{} records more batches than the file has; starting over", state.path().display()));
            RestoreProgress { cleared: false, batches: 0, entries: 0 }
        }
        Start::Fresh { why } => {
            if let Some(why) = why {
                notice(json, &why);
            }
            RestoreProgress { cleared: false, batches: 0, entries: 0 }
        }
    };
    if replace && !progress.cleared {
        let reply = target.update(&format!("clear_{map}"), &candid::encode_args(())?)?;
        let cleared: u64 = candid::decode_one(&reply)?;
        notice(json, &format!("every entry was accepted; cleared {cleared} entries of `{map}` for the exact restore"));
        progress.cleared = true;
        if target.checkpoint()? {
            state.save(&binding(target), &progress)?;
        }
    }
    let method = format!("restore_{map}");
    let bar = progress::bar(Some(entries.len() as u64), &format!("restore {map}"), false, json);
    bar.set_position(progress.entries);
    let mut sent = 0usize;
    for (count, arg) in batches.iter().skip(progress.batches) {
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
        sent += 1;
        if target.checkpoint()? {
            state.save(&binding(target), &progress)?;
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

    const DID: &str = r#"
        type Page = record { entries : vec record { text; record { n : nat64 } }; next : opt text; len : nat64 };
        service : {
            backup_things_page : (opt text, opt nat64) -> (Page) query;
            restore_things : (vec record { text; record { n : nat64 } }) -> (variant { Ok : nat64; Err : text });
        }"#;

    #[test]
    fn page_requests_carry_the_cursor_and_budget() {
        let interface = Interface::parse(DID).unwrap();
        let types = interface.map("things").unwrap();
        let arg = page_request(
            &interface,
            &types,
            Some(IDLValue::Text("k".into())),
            Some(4096),
        )
        .unwrap();
        let (after, max): (Option<String>, Option<u64>) = candid::decode_args(&arg).unwrap();
        assert_eq!((after.as_deref(), max), (Some("k"), Some(4096)));
        let arg = page_request(&interface, &types, None, None).unwrap();
        let (after, max): (Option<String>, Option<u64>) = candid::decode_args(&arg).unwrap();
        assert_eq!((after, max), (None, None));
        assert!(interface
            .map("other")
            .unwrap_err()
            .to_string()
            .contains("its maps: things"));
    }

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
        assert_eq!(alone.iter().map(|(n, _)| *n).collect::<Vec<_>>(), vec![1; 5]);
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
        let error = super::batches(&interface, &types, &huge, 1000).unwrap_err().to_string();
        assert!(error.contains("entry 2 (key \"kkk") && error.contains("alone encodes"), "{}", &error[..200]);
    }
}

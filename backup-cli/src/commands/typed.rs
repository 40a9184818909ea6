//! `backup` and `restore`: typed entries, page by page and batch by batch,
//! both resumable.

use super::output;
use crate::error::{CliError, Result};
use crate::interface::{Interface, MapTypes};
use crate::json::{from_json, to_json, Format};
use crate::progress;
use crate::target::Target;
use candid::types::value::{IDLField, IDLValue};
use candid::types::{Type, TypeInner};
use candid::IDLArgs;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The marker of a lossless backup file.
pub const LOSSLESS_FORMAT: &str = "ic-backup/lossless-1";

/// `path` with `suffix` appended to its file name.
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Writes `bytes` to `path` through a temporary file, so `path` is either
/// the old file or the new one, never half of either.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let temporary = with_suffix(path, ".tmp");
    std::fs::write(&temporary, bytes).map_err(|source| CliError::io(&temporary, source))?;
    std::fs::rename(&temporary, path).map_err(|source| CliError::io(path, source))
}

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

#[allow(clippy::too_many_arguments)]
pub fn backup(
    target: &mut dyn Target,
    interface: &Interface,
    map: &str,
    output_path: &Path,
    format: Format,
    max_bytes: Option<u64>,
    stop_after: Option<usize>,
    json: bool,
) -> Result<()> {
    let types = interface.map(map)?;
    let env = &interface.env;
    let method = format!("backup_{map}_page");
    let partial = with_suffix(output_path, ".partial");
    let state_path = with_suffix(output_path, ".progress");
    let format_name = format!("{format:?}").to_lowercase();

    // Resume from the last page written, if an earlier run of the same backup stopped.
    let state = read_json(&state_path)
        .ok()
        .filter(|s| s["map"] == map && s["format"] == format_name.as_str());
    let (mut cursor, mut count, written) = match &state {
        Some(state) => {
            let cursor = match &state["cursor"] {
                Value::Null => None,
                key => Some(from_json(
                    env,
                    &types.key,
                    key,
                    Format::Lossless,
                    "the saved cursor",
                )?),
            };
            (
                cursor,
                state["entries"].as_u64().unwrap_or(0),
                state["bytes"].as_u64().unwrap_or(0),
            )
        }
        None => (None, 0, 0),
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
    let mut written = written;

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
            written += bytes.len() as u64;
            count += 1;
        }
        file.flush()
            .map_err(|source| CliError::io(&partial, source))?;
        pages += 1;
        bar.set_position(count);
        let next = match field(fields, "next") {
            Some(IDLValue::Opt(key)) => Some(key.as_ref().clone()),
            _ => None,
        };
        let Some(next) = next else { break };
        let saved = json!({
            "map": map,
            "format": format_name,
            "cursor": to_json(env, &types.key, &next, Format::Lossless)?,
            "entries": count,
            "bytes": written,
        });
        write_atomically(&state_path, saved.to_string().as_bytes())?;
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
        Format::Lossless => json!({
            "format": LOSSLESS_FORMAT,
            "map": map,
            "key": types.key.to_string(),
            "value": types.value.to_string(),
            "entries": entries,
        }),
    };
    let text = serde_json::to_vec_pretty(&document).map_err(|e| CliError::Input(e.to_string()))?;
    write_atomically(output_path, &text)?;
    let _ = std::fs::remove_file(&partial);
    let _ = std::fs::remove_file(&state_path);
    output(
        json,
        json!({ "map": map, "entries": count, "pages": pages, "file": output_path }),
        || {
            format!(
                "{count} entries of `{map}` in {pages} pages -> {}",
                output_path.display()
            )
        },
    );
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

/// Splits `entries` into `restore_<map>` arguments that each fit `budget` bytes.
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
        if header + 5 + entry_size > budget {
            return Err(CliError::Input(format!(
                "entry {i} alone encodes to {entry_size} bytes, over the {budget} bytes a restore call can carry"
            )));
        }
        if size + entry_size > budget {
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

pub fn restore(
    target: &mut dyn Target,
    interface: &Interface,
    map: &str,
    input: &Path,
    replace: bool,
    stop_after: Option<usize>,
    json: bool,
) -> Result<()> {
    let types = interface.map(map)?;
    let entries = read_entries(interface, &types, input)?;
    let budget = super::CALL_BUDGET;
    let batches = batches(interface, &types, &entries, budget)?;

    let digest = hex::encode(Sha256::digest(
        std::fs::read(input).map_err(|source| CliError::io(input, source))?,
    ));
    let state_path = with_suffix(input, ".restore-progress");
    let state = read_json(&state_path).ok().filter(|s| {
        s["map"] == map && s["file_sha256"] == digest.as_str() && s["replace"] == replace
    });
    let save = |phase: &str, batches: usize, entries: u64| {
        let saved = json!({ "map": map, "file_sha256": digest, "replace": replace, "phase": phase, "batches": batches, "entries": entries });
        write_atomically(&state_path, saved.to_string().as_bytes())
    };
    // With --replace the file is first restored over the map as it is: the
    // canister checks every batch (key text included), so a file it refuses
    // never gets as far as the clear. Then the map is cleared and restored.
    let phases: &[&str] = if replace {
        &["check", "final"]
    } else {
        &["final"]
    };
    let resume_phase = state
        .as_ref()
        .and_then(|s| s["phase"].as_str().map(str::to_string));
    let first = resume_phase
        .as_deref()
        .and_then(|p| phases.iter().position(|q| *q == p))
        .unwrap_or(0);
    let method = format!("restore_{map}");
    let mut sent = 0usize;
    let mut restored = 0u64;
    for (phase_index, phase) in phases.iter().enumerate().skip(first) {
        let resuming = phase_index == first && state.is_some();
        let mut done_batches = if resuming {
            state
                .as_ref()
                .and_then(|s| s["batches"].as_u64())
                .unwrap_or(0) as usize
        } else {
            0
        };
        restored = if resuming {
            state
                .as_ref()
                .and_then(|s| s["entries"].as_u64())
                .unwrap_or(0)
        } else {
            0
        };
        if replace && *phase == "final" && !resuming {
            let reply = target.update(&format!("clear_{map}"), &candid::encode_args(())?)?;
            let cleared: u64 = candid::decode_one(&reply)?;
            if !json {
                eprintln!("every batch was accepted; cleared {cleared} entries of `{map}` for the exact restore");
            }
        }
        save(phase, done_batches, restored)?;
        let label = if *phase == "check" {
            format!("restore {map} (pass 1 of 2)")
        } else {
            format!("restore {map}")
        };
        let bar = progress::bar(Some(entries.len() as u64), &label, false, json);
        bar.set_position(restored);
        for (index, (count, arg)) in batches.iter().enumerate().skip(done_batches) {
            if stop_after == Some(sent) {
                bar.abandon();
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
                    message: format!(
                        "expected {count} entries restored, the canister says {inserted}"
                    ),
                });
            }
            restored += inserted;
            sent += 1;
            done_batches = index + 1;
            save(phase, done_batches, restored)?;
            bar.set_position(restored);
        }
        bar.finish_and_clear();
    }
    let _ = std::fs::remove_file(&state_path);
    output(
        json,
        json!({ "map": map, "entries": restored, "batches": batches.len() }),
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
        let error = batches_error(&interface, &types, &entries);
        assert!(error.contains("alone encodes"), "{error}");
    }

    fn batches_error(interface: &Interface, types: &MapTypes, entries: &[IDLValue]) -> String {
        batches(interface, types, entries, 10)
            .unwrap_err()
            .to_string()
    }
}

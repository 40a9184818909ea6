//! `backup`: a map's typed entries, page by page, into a file; resumable.
//! (`restore`, the way back, is in `restore.rs`.)

use super::{notice, output};
use crate::durable::{self, with_suffix};
use crate::error::{CliError, Result};
use crate::interface::{Interface, MapTypes};
use crate::json::{from_json, to_json, Codec, Format};
use crate::progress;
use crate::resume::{PartialProgress, Resume, TargetId};
use crate::target::Target;
use candid::types::value::{IDLField, IDLValue};
use candid::types::{Type, TypeInner};
use candid::IDLArgs;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The marker of a lossless backup file.
pub const LOSSLESS_FORMAT: &str = "ic-backup/lossless-1";

pub(super) fn read_json(path: &Path) -> Result<Value> {
    let bytes = std::fs::read(path).map_err(|source| CliError::io(path, source))?;
    parse_json(path, &bytes)
}

/// The JSON document `bytes`, read from `path`.
pub(super) fn parse_json(path: &Path, bytes: &[u8]) -> Result<Value> {
    serde_json::from_slice(bytes)
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
    interface_sha256: String,
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
    /// Numbers written so far that JavaScript does not hold exactly (agent-js form).
    #[serde(default)]
    lossy: u64,
    /// The key of the first entry holding one.
    #[serde(default)]
    first_lossy: Option<Value>,
}

impl PartialProgress for BackupProgress {
    fn prefix(&self) -> (u64, &str) {
        (self.bytes, &self.partial_sha256)
    }
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
pub fn backup(
    target: &mut dyn Target,
    interface: &Interface,
    options: BackupOptions,
) -> Result<()> {
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
        interface_sha256: interface.sha256.clone(),
        output: durable::absolute(output_path),
        format: format!("{format:?}").to_lowercase(),
    };
    let (state, start) = Resume::<BackupBinding, BackupProgress>::open(
        &with_suffix(output_path, ".progress"),
        "backup",
        &binding,
    );
    // Resume only over a partial file whose recorded prefix is intact.
    let resumed = start.over_partial(&partial, json)?;
    let codec = Codec::new(env, format);
    let (mut cursor, mut count, mut written, mut hasher, mut skipped, mut lossy) = match resumed {
        Some((progress, hasher)) => {
            let cursor = match &progress.cursor {
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
                progress.entries,
                progress.bytes,
                hasher,
                progress.skipped,
                (progress.lossy, progress.first_lossy),
            )
        }
        None => (None, 0, 0, Sha256::new(), Vec::new(), (0, None)),
    };
    // Drops anything written after the last recorded page.
    let mut file = std::io::BufWriter::new(durable::open_partial(&partial, written)?);

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
            let before = codec.lossy();
            let mut bytes = codec.entry_text((&types.key, &types.value), key, value)?;
            if codec.lossy() > before {
                lossy.0 += codec.lossy() - before;
                if lossy.1.is_none() {
                    lossy.1 = Some(to_json(env, &types.key, key, Format::Lossless)?);
                }
            }
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
                bar.suspend(|| {
                    notice(
                        json,
                        &format!(
                            "skipped: the entry with key {key} is too large for one restore call"
                        ),
                    )
                });
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
            lossy: lossy.0,
            first_lossy: lossy.1.clone(),
        };
        state.save(&binding, &progress)?;
        cursor = Some(next);
    }
    drop(file);
    bar.finish_and_clear();

    // Assemble the file from the lines of the partial file, one entry at a time.
    let header = (format == Format::Lossless).then(|| {
        json!({
            "format": LOSSLESS_FORMAT,
            "map": map,
            "key": types.key.to_string(),
            "value": types.value.to_string(),
        })
    });
    assemble(&partial, output_path, format, header, &skipped)?;
    durable::remove(&partial)?;
    state.remove()?;
    output(
        json,
        json!({ "map": map, "entries": count, "pages": pages, "file": output_path, "skipped": skipped, "inexact_numbers": lossy.0 }),
        || {
            format!(
                "{count} entries of `{map}` in {pages} pages -> {}",
                output_path.display()
            )
        },
    );
    if let (n @ 1.., Some(key)) = lossy {
        notice(
            json,
            &format!(
                "warning: {n} numbers in {} are not exact in JavaScript (above 2^53 - 1, beyond 64 bits, or NaN/infinite), the first in the entry with key {key}: the article's restore.js will read them rounded. `--format lossless` keeps them exact",
                output_path.display()
            ),
        );
    }
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

/// Writes the backup file from the partial file's lines (one entry each),
/// streaming, atomically: exactly what `serde_json::to_vec_pretty` of the
/// whole document writes (`[[key, value], ...]`, or the lossless document:
/// `header`'s fields, `entries`, then `skipped` when not empty), or for
/// agent-js what `console.log(JSON.stringify(entries))` prints.
fn assemble(
    partial: &Path,
    output: &Path,
    format: Format,
    header: Option<Value>,
    skipped: &[Value],
) -> Result<()> {
    use std::io::{BufRead, Write};
    let temporary = backup_common::durable::temporary_of(output);
    let result = (|| -> Result<()> {
        let on_partial = |source| CliError::io(partial, source);
        let on_output = |source| CliError::io(&temporary, source);
        let lines =
            std::io::BufReader::new(std::fs::File::open(partial).map_err(on_partial)?).lines();
        let mut out =
            std::io::BufWriter::new(std::fs::File::create(&temporary).map_err(on_output)?);
        let mut put = |text: &str| out.write_all(text.as_bytes()).map_err(on_output);
        if format == Format::AgentJs {
            put("[")?;
            for (index, line) in lines.enumerate() {
                put(if index == 0 { "" } else { "," })?;
                put(&line.map_err(on_partial)?)?;
            }
            put("]\n")?;
        } else {
            // The entries array sits at depth 0 (plain) or 1 (inside the document).
            let depth = usize::from(header.is_some());
            if let Some(Value::Object(fields)) = &header {
                put("{\n")?;
                for (name, value) in fields {
                    put(&format!(
                        "  {}: {},\n",
                        Value::from(name.as_str()),
                        pretty(value, 1)?
                    ))?;
                }
                put("  \"entries\": ")?;
            }
            let mut empty = true;
            for line in lines {
                let entry: Value = serde_json::from_str(&line.map_err(on_partial)?)
                    .map_err(|e| CliError::Input(format!("{}: {e}", partial.display())))?;
                put(if empty { "[\n" } else { ",\n" })?;
                put(&"  ".repeat(depth + 1))?;
                put(&pretty(&entry, depth + 1)?)?;
                empty = false;
            }
            put(&if empty {
                "[]".to_string()
            } else {
                format!("\n{}]", "  ".repeat(depth))
            })?;
            if header.is_some() {
                if !skipped.is_empty() {
                    // The file says itself that it is not the whole map.
                    put(&format!(
                        ",\n  \"skipped\": {}",
                        pretty(&Value::Array(skipped.to_vec()), 1)?
                    ))?;
                }
                put("\n}")?;
            }
        }
        let file = out
            .into_inner()
            .map_err(|error| on_output(error.into_error()))?;
        file.sync_all().map_err(on_output)?;
        Ok(())
    })();
    match result {
        Ok(()) => durable::rename(&temporary, output),
        Err(error) => {
            let _ = std::fs::remove_file(&temporary);
            Err(error)
        }
    }
}

/// `value` pretty-printed as it reads nested `depth` levels deep.
fn pretty(value: &Value, depth: usize) -> Result<String> {
    let text = serde_json::to_string_pretty(value).map_err(|e| CliError::Input(e.to_string()))?;
    Ok(text.replace('\n', &format!("\n{}", "  ".repeat(depth))))
}

pub(super) fn field_by_id(fields: &[IDLField], id: u32) -> Option<&IDLValue> {
    fields.iter().find(|f| f.id.get_id() == id).map(|f| &f.val)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A service with one map, for the request-building tests here and in `restore`.
    pub(in crate::commands) const DID: &str = r#"
        type Page = record { entries : vec record { text; record { n : nat64 } }; next : opt text; len : nat64 };
        service : {
            backup_things_page : (opt text, opt nat64) -> (Page) query;
            restore_things : (vec record { text; record { n : nat64 } }) -> (variant { Ok : nat64; Err : text });
        }"#;

    /// The streamed file is byte for byte what pretty-printing the whole
    /// document writes, in every form, empty or not, skipped keys or not.
    #[test]
    fn assembling_streams_what_the_whole_document_prints() {
        let dir = tempfile::tempdir().unwrap();
        let partial = dir.path().join("partial");
        let output = dir.path().join("out.json");
        let entries = [
            json!(["a\nb", {"x": [1, {"y": []}], "z": {}, "w": "é\"", "v": [[], [null]]}]),
            json!([1, null]),
            json!(["k", [1.5, true, {"deep": {"deeper": [1, 2]}}]]),
        ];
        let header =
            json!({"format": LOSSLESS_FORMAT, "map": "m", "key": "text", "value": "record {}"});
        for count in [0, 1, 3] {
            let lines: String = entries[..count].iter().map(|e| format!("{e}\n")).collect();
            std::fs::write(&partial, &lines).unwrap();
            for skipped in [vec![], vec![json!("k1"), json!({"a": 1})]] {
                assemble(&partial, &output, Format::Json, None, &skipped).unwrap();
                let plain = Value::Array(entries[..count].to_vec());
                assert_eq!(
                    std::fs::read(&output).unwrap(),
                    serde_json::to_vec_pretty(&plain).unwrap()
                );
                assemble(
                    &partial,
                    &output,
                    Format::Lossless,
                    Some(header.clone()),
                    &skipped,
                )
                .unwrap();
                let mut document = header.clone();
                document["entries"] = plain.clone();
                if !skipped.is_empty() {
                    document["skipped"] = Value::Array(skipped.clone());
                }
                assert_eq!(
                    String::from_utf8(std::fs::read(&output).unwrap()).unwrap(),
                    String::from_utf8(serde_json::to_vec_pretty(&document).unwrap()).unwrap()
                );
                assemble(&partial, &output, Format::AgentJs, None, &skipped).unwrap();
                let joined: Vec<&str> = lines.lines().collect();
                assert_eq!(
                    std::fs::read(&output).unwrap(),
                    format!("[{}]\n", joined.join(",")).into_bytes()
                );
            }
        }
    }

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
}

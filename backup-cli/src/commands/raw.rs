//! Raw stable memory: `dump`, `load`, `verify`, and `inspect` of an image.

use super::output;
use super::typed::{with_suffix, write_atomically};
use crate::error::{CliError, Result};
use crate::progress;
use crate::target::Target;
use backup_runtime::limits::{INGRESS_LIMIT, MAX_DIGEST_RANGE, MAX_RAW_READ, MIN_DIGEST_BLOCK};
use backup_runtime::{ImageError, Layout};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The block size of a dump's manifest.
pub const MANIFEST_BLOCK: u64 = 64 * 1024;

fn stable_size(target: &mut dyn Target) -> Result<u64> {
    Ok(candid::decode_one(
        &target.query("stable_size", &candid::encode_args(())?)?,
    )?)
}

/// The SHA-256 of each `block` bytes of `bytes`.
pub fn local_digests(bytes: &[u8], block: u64) -> Vec<[u8; 32]> {
    bytes
        .chunks(block as usize)
        .map(|chunk| Sha256::digest(chunk).into())
        .collect()
}

/// The canister's digests of `[0, length)` in blocks of `block`, asked for in
/// ranges of at most `MAX_DIGEST_RANGE`.
pub fn live_digests(target: &mut dyn Target, length: u64, block: u64) -> Result<Vec<[u8; 32]>> {
    let range = MAX_DIGEST_RANGE - MAX_DIGEST_RANGE % block;
    let calls: Vec<(String, Vec<u8>)> = (0..length)
        .step_by(range as usize)
        .map(|offset| {
            let arg = candid::encode_args((offset, range.min(length - offset), block))?;
            Ok(("stable_digest".to_string(), arg))
        })
        .collect::<Result<_>>()?;
    let mut digests = Vec::new();
    for reply in target.queries(&calls) {
        let blobs: Vec<serde_bytes::ByteBuf> = candid::decode_one(&reply?)?;
        for blob in blobs {
            let digest: [u8; 32] = blob.as_slice().try_into().map_err(|_| {
                CliError::Input(format!(
                    "expected 32-byte digests, found {} bytes",
                    blob.len()
                ))
            })?;
            digests.push(digest);
        }
    }
    Ok(digests)
}

fn write_manifest(image: &Path, bytes: &[u8]) -> Result<PathBuf> {
    let path = with_suffix(image, ".sha256");
    let manifest = json!({
        "image": image.file_name().map(|n| n.to_string_lossy().into_owned()),
        "size": bytes.len(),
        "sha256": hex::encode(Sha256::digest(bytes)),
        "block_size": MANIFEST_BLOCK,
        "blocks": local_digests(bytes, MANIFEST_BLOCK).iter().map(hex::encode).collect::<Vec<_>>(),
    });
    let text = serde_json::to_vec_pretty(&manifest).map_err(|e| CliError::Input(e.to_string()))?;
    write_atomically(&path, &text)?;
    Ok(path)
}

pub fn dump(
    target: &mut dyn Target,
    output_path: &Path,
    parallel: usize,
    chunk: u64,
    stop_after: Option<usize>,
    json: bool,
) -> Result<()> {
    if chunk == 0 || chunk > MAX_RAW_READ {
        return Err(CliError::Input(format!(
            "expected --chunk-bytes between 1 and {MAX_RAW_READ}, found {chunk}"
        )));
    }
    let parallel = parallel.max(1);
    let size = stable_size(target)?;
    let partial = with_suffix(output_path, ".partial");
    let state_path = with_suffix(output_path, ".progress");
    // Resume: the state records how many leading bytes of the partial file are done.
    let state: Option<Value> = std::fs::read(&state_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let mut done = state
        .filter(|s| s["size"] == size)
        .and_then(|s| s["done"].as_u64())
        .unwrap_or(0);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(&partial)
        .map_err(|source| CliError::io(&partial, source))?;
    file.set_len(done)
        .map_err(|source| CliError::io(&partial, source))?;
    file.seek(SeekFrom::End(0))
        .map_err(|source| CliError::io(&partial, source))?;

    let bar = progress::bar(Some(size), "dump", true, json);
    bar.set_position(done);
    let mut calls_made = 0usize;
    while done < size {
        let calls: Vec<(String, Vec<u8>)> = (0..parallel as u64)
            .map(|i| done + i * chunk)
            .filter(|&offset| offset < size)
            .take(stop_after.map_or(parallel, |n| n.saturating_sub(calls_made)))
            .map(|offset| {
                Ok((
                    "stable_read".to_string(),
                    candid::encode_args((offset, chunk.min(size - offset)))?,
                ))
            })
            .collect::<Result<_>>()?;
        if calls.is_empty() {
            bar.abandon();
            return Err(CliError::Network(format!(
                "stopped after {calls_made} reads as asked; run the same command again to resume at byte {done}"
            )));
        }
        for reply in target.queries(&calls) {
            let bytes: serde_bytes::ByteBuf = candid::decode_one(&reply?)?;
            file.write_all(&bytes)
                .map_err(|source| CliError::io(&partial, source))?;
            done += bytes.len() as u64;
            calls_made += 1;
        }
        file.flush()
            .map_err(|source| CliError::io(&partial, source))?;
        write_atomically(
            &state_path,
            json!({ "size": size, "done": done }).to_string().as_bytes(),
        )?;
        bar.set_position(done);
    }
    drop(file);
    bar.finish_and_clear();
    std::fs::rename(&partial, output_path).map_err(|source| CliError::io(output_path, source))?;
    let _ = std::fs::remove_file(&state_path);
    let bytes = std::fs::read(output_path).map_err(|source| CliError::io(output_path, source))?;
    let manifest = write_manifest(output_path, &bytes)?;
    output(
        json,
        json!({ "image": output_path, "bytes": size, "manifest": manifest }),
        || {
            format!(
                "{size} bytes -> {} (manifest {})",
                output_path.display(),
                manifest.display()
            )
        },
    );
    Ok(())
}

pub fn load(
    target: &mut dyn Target,
    input: &Path,
    base: Option<&Path>,
    block: u64,
    json: bool,
) -> Result<()> {
    if block < MIN_DIGEST_BLOCK || block > MAX_RAW_READ.min(INGRESS_LIMIT as u64 / 2) {
        return Err(CliError::Input(format!(
            "expected --block-bytes between {MIN_DIGEST_BLOCK} and {}, found {block}",
            MAX_RAW_READ.min(INGRESS_LIMIT as u64 / 2)
        )));
    }
    let image = std::fs::read(input).map_err(|source| CliError::io(input, source))?;
    let live_size = stable_size(target)?;
    if (image.len() as u64) < live_size {
        return Err(CliError::Input(format!(
            "{} is {} bytes but stable memory is {live_size}: stable memory cannot shrink, so the image cannot replace it",
            input.display(),
            image.len()
        )));
    }
    let wanted = local_digests(&image, block);
    let current = match base {
        Some(base) => {
            let base = std::fs::read(base).map_err(|source| CliError::io(base, source))?;
            local_digests(&base, block)
        }
        None => live_digests(target, live_size, block)?,
    };
    let changed: Vec<usize> = (0..wanted.len())
        .filter(|&i| current.get(i) != Some(&wanted[i]))
        .collect();

    // Adjacent changed blocks travel together, up to what one ingress message carries.
    let per_call = (super::CALL_BUDGET as u64 / block).max(1) as usize;
    let mut writes: Vec<(usize, usize)> = Vec::new();
    for &i in &changed {
        match writes.last_mut() {
            Some((start, count)) if *start + *count == i && *count < per_call => *count += 1,
            _ => writes.push((i, 1)),
        }
    }
    let bar = progress::bar(Some(changed.len() as u64 * block), "load", true, json);
    let mut sent = 0u64;
    for (start, count) in &writes {
        let from = *start as u64 * block;
        let to = (from + *count as u64 * block).min(image.len() as u64);
        let data = serde_bytes::ByteBuf::from(image[from as usize..to as usize].to_vec());
        target.update("stable_write", &candid::encode_args((from, data))?)?;
        sent += to - from;
        bar.inc(to - from);
    }
    bar.finish_and_clear();

    let after = live_digests(target, image.len() as u64, block)?;
    if after != wanted {
        let differing = after.iter().zip(&wanted).filter(|(a, b)| a != b).count();
        return Err(CliError::Mismatch(format!(
            "after the load {differing} blocks of stable memory still differ from {}",
            input.display()
        )));
    }
    output(
        json,
        json!({ "blocks": wanted.len(), "changed": changed.len(), "bytes_sent": sent, "calls": writes.len(), "verified": true, "next_step": "upgrade the canister so that it reloads its heap from stable memory" }),
        || {
            format!(
                "{} of {} blocks differed; sent {sent} bytes in {} calls; stable memory now matches {}.\n\
                 Upgrade the canister now (for example `dfx canister install --mode upgrade`) so that it reloads its heap from the new stable memory.",
                changed.len(),
                wanted.len(),
                writes.len(),
                input.display()
            )
        },
    );
    Ok(())
}

pub fn verify(target: &mut dyn Target, manifest_path: &Path, json: bool) -> Result<()> {
    let bytes =
        std::fs::read(manifest_path).map_err(|source| CliError::io(manifest_path, source))?;
    let manifest: Value = serde_json::from_slice(&bytes).map_err(|error| {
        CliError::Input(format!(
            "{}: not a manifest: {error}",
            manifest_path.display()
        ))
    })?;
    let (Some(size), Some(block), Some(blocks)) = (
        manifest["size"].as_u64(),
        manifest["block_size"].as_u64(),
        manifest["blocks"].as_array(),
    ) else {
        return Err(CliError::Input(format!(
            "{}: expected a manifest with `size`, `block_size` and `blocks`",
            manifest_path.display()
        )));
    };
    let live_size = stable_size(target)?;
    if live_size != size {
        return Err(CliError::Mismatch(format!(
            "stable memory is {live_size} bytes, the manifest says {size}"
        )));
    }
    let live = live_digests(target, size, block)?;
    let differing: Vec<usize> = (0..blocks.len())
        .filter(|&i| {
            blocks[i].as_str()
                != Some(hex::encode(live.get(i).copied().unwrap_or_default()).as_str())
        })
        .collect();
    if !differing.is_empty() {
        let first: Vec<String> = differing
            .iter()
            .take(10)
            .map(|i| format!("{}", *i as u64 * block))
            .collect();
        return Err(CliError::Mismatch(format!(
            "{} of {} blocks differ from the manifest (first at offsets {})",
            differing.len(),
            blocks.len(),
            first.join(", ")
        )));
    }
    output(
        json,
        json!({ "verified": true, "blocks": blocks.len(), "size": size }),
        || {
            format!(
                "stable memory matches {} ({} blocks)",
                manifest_path.display(),
                blocks.len()
            )
        },
    );
    Ok(())
}

pub fn inspect(path: &Path, json: bool) -> Result<()> {
    let image = std::fs::read(path).map_err(|source| CliError::io(path, source))?;
    let layout = Layout::parse(&image)
        .map_err(|error| CliError::Input(format!("{}: {error}", path.display())))?;
    let mut memories = Vec::new();
    for memory in &layout.memories {
        let map = match layout.map_header(&image, memory.id) {
            Ok(Some(header)) => {
                json!({ "version": header.version, "entries": header.len, "root": header.root_addr })
            }
            Ok(None) => Value::Null,
            Err(ImageError::NotAMap { found, .. }) => json!({ "not_a_map": found }),
            Err(other) => json!({ "not_a_map": other.to_string() }),
        };
        memories.push(json!({
            "id": memory.id,
            "pages": memory.size_pages,
            "bytes": memory.size_pages * 65536,
            "buckets": memory.buckets,
            "btreemap": map,
        }));
    }
    let summary = json!({
        "image": path,
        "bytes": layout.image_len,
        "bucket_size_pages": layout.bucket_size_pages,
        "allocated_buckets": layout.allocated_buckets,
        "memories": memories,
    });
    output(json, summary.clone(), || {
        let mut text = format!(
            "{}: {} bytes, MemoryManager v1, {} buckets of {} pages\n\n{:>4}  {:>10}  {:>8}  {}\n",
            path.display(),
            layout.image_len,
            layout.allocated_buckets,
            layout.bucket_size_pages,
            "id",
            "bytes",
            "buckets",
            "contents"
        );
        for memory in summary["memories"].as_array().into_iter().flatten() {
            let contents = match &memory["btreemap"] {
                Value::Null => "empty".to_string(),
                map if map.get("not_a_map").is_some() => {
                    format!("not a StableBTreeMap ({})", map["not_a_map"])
                }
                map => format!(
                    "StableBTreeMap v{}, {} entries",
                    map["version"], map["entries"]
                ),
            };
            let buckets = memory["buckets"].as_array().map_or(0, Vec::len);
            let (id, bytes) = (
                memory["id"].as_u64().unwrap_or(0),
                memory["bytes"].as_u64().unwrap_or(0),
            );
            text.push_str(&format!("{id:>4}  {bytes:>10}  {buckets:>8}  {contents}\n"));
        }
        text.trim_end().to_string()
    });
    Ok(())
}

//! `ic-backup snapshot upload`: a snapshot folder (as dfx, icp-cli or
//! `ic-backup snapshot download` wrote it) into a new snapshot of the
//! canister: its metadata, then its parts in slices, many at a time, read
//! from disk as they are sent (memory flat in the folder's size), then its
//! chunks. A progress file in the folder binds the upload to the network,
//! the canister and the files' SHA-256, and records the snapshot made and
//! the slices the canister took: a rerun after any interruption sends only
//! the rest. At the end the snapshot is read back and each part compared
//! with its file.

use super::folder::{self, Part};
use super::{call, decode, metadata, Management, SLICE};
use crate::error::{Error, Result};
use candid::{CandidType, Principal};
use ic_management_canister_types::{
    ReadCanisterSnapshotDataResult, SnapshotDataOffset, UploadCanisterSnapshotMetadataArgs,
    UploadCanisterSnapshotMetadataResult,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The progress file of an upload.
pub const PROGRESS: &str = ".ic-backup-upload.json";

#[derive(Serialize, Deserialize)]
struct Progress {
    network: String,
    canister: String,
    /// SHA-256 of `metadata.json` and of each part's file.
    files: BTreeMap<String, String>,
    /// The snapshot the metadata upload made.
    snapshot_id: Option<String>,
    /// By part: the slices the canister took.
    done: BTreeMap<String, BTreeSet<u64>>,
    /// The chunks the canister took.
    chunks: BTreeSet<String>,
}

#[derive(CandidType)]
struct UploadArgs<'a> {
    canister_id: Principal,
    snapshot_id: &'a serde_bytes::Bytes,
    kind: SnapshotDataOffset,
    chunk: &'a serde_bytes::Bytes,
}

#[derive(CandidType)]
struct ReadArgs<'a> {
    canister_id: Principal,
    snapshot_id: &'a serde_bytes::Bytes,
    kind: ic_management_canister_types::SnapshotDataKind,
}

/// Uploads the folder `dir` as a new snapshot (in place of `replace`),
/// `parallel` slices in flight; the new snapshot's id.
pub fn upload(
    management: &mut dyn Management,
    dir: &Path,
    replace: Option<&[u8]>,
    parallel: usize,
    quiet: bool,
) -> Result<Vec<u8>> {
    let meta = folder::read_metadata(dir)?;
    let mut parts = Vec::new();
    for part in Part::ALL {
        let path = dir.join(part.file());
        let len = part.len(&meta);
        let found = match std::fs::metadata(&path) {
            Ok(found) => found.len(),
            // dfx writes no stable_memory.bin for an empty one, icp-cli no
            // wasm_memory.bin for an empty heap.
            Err(_) if len == 0 => continue,
            Err(source) => return Err(Error::io(&path, source)),
        };
        if found != len {
            return Err(Error::Input(format!(
                "{}: metadata.json records {len} bytes, the file has {found}: an incomplete download, or a file changed without its size in metadata.json",
                path.display()
            )));
        }
        parts.push((part, path, len));
    }
    let progress_path = dir.join(PROGRESS);
    let mut files = BTreeMap::new();
    files.insert(
        folder::METADATA.to_string(),
        hex::encode(folder::file_sha256(&dir.join(folder::METADATA))?),
    );
    for (part, path, _) in &parts {
        files.insert(
            part.name().to_string(),
            hex::encode(folder::file_sha256(path)?),
        );
    }
    let network = management.network();
    let canister = management.canister();
    let mut progress = match folder::load_progress::<Progress>(&progress_path)? {
        Some(progress) => {
            if (&progress.network, &progress.canister) != (&network, &canister.to_text()) {
                return Err(Error::Input(format!(
                    "{} holds an unfinished upload to canister {} on {}: finish it there, or remove {PROGRESS} to start over",
                    dir.display(),
                    progress.canister,
                    progress.network
                )));
            }
            if progress.files != files {
                return Err(Error::Input(format!(
                    "{}: the files changed since the upload began{}; remove {PROGRESS} to upload them as a new snapshot",
                    dir.display(),
                    progress
                        .snapshot_id
                        .as_ref()
                        .map(|id| format!(" (the snapshot it made, {id}, stays on the canister: `ic-backup snapshot delete {id}`)"))
                        .unwrap_or_default()
                )));
            }
            progress
        }
        None => Progress {
            network,
            canister: canister.to_text(),
            files,
            snapshot_id: None,
            done: BTreeMap::new(),
            chunks: BTreeSet::new(),
        },
    };
    let id = match &progress.snapshot_id {
        Some(id) => super::parse_id(id)?,
        None => {
            let id = upload_metadata(management, &meta, replace)?;
            progress.snapshot_id = Some(hex::encode(&id));
            folder::save_progress(&progress_path, &progress)?;
            id
        }
    };
    send_parts(
        management,
        &id,
        &parts,
        &mut progress,
        &progress_path,
        parallel,
        quiet,
    )?;
    for chunk in &meta.wasm_chunk_store {
        let name = hex::encode(&chunk.hash);
        if progress.chunks.contains(&name) {
            continue;
        }
        let path = folder::chunk_file(dir, &chunk.hash);
        let bytes = std::fs::read(&path).map_err(|source| Error::io(&path, source))?;
        let arg = UploadArgs {
            canister_id: canister,
            snapshot_id: serde_bytes::Bytes::new(&id),
            kind: SnapshotDataOffset::WasmChunk,
            chunk: serde_bytes::Bytes::new(&bytes),
        };
        call(management, "upload_canister_snapshot_data", arg, true)?;
        progress.chunks.insert(name);
        folder::save_progress(&progress_path, &progress)?;
    }
    let chunks: Vec<String> = meta
        .wasm_chunk_store
        .iter()
        .map(|chunk| hex::encode(&chunk.hash))
        .collect();
    verify(
        management,
        &id,
        &parts,
        &chunks,
        &mut progress,
        &progress_path,
        parallel,
    )?;
    crate::durable::remove(&progress_path)?;
    Ok(id)
}

/// Makes the snapshot from the folder's metadata; its id.
fn upload_metadata(
    management: &mut dyn Management,
    meta: &ic_management_canister_types::ReadCanisterSnapshotMetadataResult,
    replace: Option<&[u8]>,
) -> Result<Vec<u8>> {
    let globals = meta
        .globals
        .iter()
        .map(|global| {
            global.clone().ok_or_else(|| {
                Error::Input(
                    "metadata.json has a global of a kind this version does not know (null)".into(),
                )
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let arg = UploadCanisterSnapshotMetadataArgs {
        canister_id: management.canister(),
        replace_snapshot: replace.map(<[u8]>::to_vec),
        wasm_module_size: meta.wasm_module_size,
        globals,
        wasm_memory_size: meta.wasm_memory_size,
        stable_memory_size: meta.stable_memory_size,
        certified_data: meta.certified_data.clone(),
        global_timer: meta.global_timer.clone(),
        on_low_wasm_memory_hook_status: meta.on_low_wasm_memory_hook_status.clone(),
    };
    let reply = call(management, "upload_canister_snapshot_metadata", arg, false)?;
    let UploadCanisterSnapshotMetadataResult { snapshot_id } =
        decode("upload_canister_snapshot_metadata", &reply)?;
    Ok(snapshot_id)
}

/// Sends the slices the canister has not taken yet, each read from its
/// file as it goes; records each taken.
fn send_parts(
    management: &mut dyn Management,
    id: &[u8],
    parts: &[(Part, std::path::PathBuf, u64)],
    progress: &mut Progress,
    progress_path: &Path,
    parallel: usize,
    quiet: bool,
) -> Result<()> {
    let canister = management.canister();
    let opened = open(parts)?;
    let wanted: Vec<(usize, u64, u64, u64)> = parts
        .iter()
        .enumerate()
        .flat_map(|(at, (part, _, len))| {
            let done = progress.done.get(part.name()).cloned().unwrap_or_default();
            folder::slices(*len)
                .filter(move |(index, _, _)| !done.contains(index))
                .map(move |(index, offset, size)| (at, index, offset, size))
        })
        .collect();
    let total: u64 = wanted.iter().map(|(_, _, _, size)| size).sum();
    let bar = crate::progress::bar(Some(total), "uploading", true, quiet);
    let mut calls = wanted.iter().map(|&(at, _, offset, size)| {
        let (part, path, file) = &opened[at];
        let bytes = folder::read_at(file, path, offset, size)?;
        let arg = UploadArgs {
            canister_id: canister,
            snapshot_id: serde_bytes::Bytes::new(id),
            kind: part.write(offset),
            chunk: serde_bytes::Bytes::new(&bytes),
        };
        super::encode(arg).map(|arg| ("upload_canister_snapshot_data".to_string(), arg))
    });
    let mut taken = 0u64;
    let result = management.manage_many(&mut calls, parallel, &mut |n, _| {
        let (at, index, _, size) = wanted[n];
        progress
            .done
            .entry(opened[at].0.name().to_string())
            .or_default()
            .insert(index);
        taken += 1;
        bar.inc(size);
        // Every slice taken is recorded, at most a few times a second.
        if taken.is_multiple_of(8) {
            folder::save_progress(progress_path, progress)?;
        }
        Ok(())
    });
    let saved = folder::save_progress(progress_path, progress);
    bar.finish_and_clear();
    result.and(saved)
}

/// The parts' files, open to read.
fn open(
    parts: &[(Part, std::path::PathBuf, u64)],
) -> Result<Vec<(Part, std::path::PathBuf, std::fs::File)>> {
    parts
        .iter()
        .map(|(part, path, _)| {
            let file = std::fs::File::open(path).map_err(|source| Error::io(path, source))?;
            Ok((*part, path.clone(), file))
        })
        .collect()
}

/// Reads the snapshot back and compares each slice with its file; a slice
/// that differs is sent again by a rerun.
fn verify(
    management: &mut dyn Management,
    id: &[u8],
    parts: &[(Part, std::path::PathBuf, u64)],
    chunks: &[String],
    progress: &mut Progress,
    progress_path: &Path,
    parallel: usize,
) -> Result<()> {
    let canister = management.canister();
    let uploaded = metadata(management, id)?;
    let missing: Vec<&String> = chunks
        .iter()
        .filter(|hash| {
            !uploaded
                .wasm_chunk_store
                .iter()
                .any(|chunk| hex::encode(&chunk.hash) == **hash)
        })
        .collect();
    if !missing.is_empty() {
        for hash in &missing {
            progress.chunks.remove(*hash);
        }
        folder::save_progress(progress_path, progress)?;
        return Err(Error::Input(format!(
            "the uploaded snapshot lacks {} of the folder's chunks: run the upload again to send them again",
            missing.len()
        )));
    }
    let opened = open(parts)?;
    let wanted: Vec<(usize, u64, u64, u64)> = parts
        .iter()
        .enumerate()
        .flat_map(|(at, (_, _, len))| {
            folder::slices(*len).map(move |(index, offset, size)| (at, index, offset, size))
        })
        .collect();
    let mut calls = wanted.iter().map(|&(at, _, offset, size)| {
        let arg = ReadArgs {
            canister_id: canister,
            snapshot_id: serde_bytes::Bytes::new(id),
            kind: opened[at].0.read(offset, size.min(SLICE)),
        };
        super::encode(arg).map(|arg| ("read_canister_snapshot_data".to_string(), arg))
    });
    let mut differing = Vec::new();
    management.manage_many(&mut calls, parallel, &mut |n, reply| {
        let (at, index, offset, size) = wanted[n];
        let (part, path, file) = &opened[at];
        let ReadCanisterSnapshotDataResult { chunk } =
            decode("read_canister_snapshot_data", &reply)?;
        if chunk != folder::read_at(file, path, offset, size)? {
            differing.push((*part, index, offset));
        }
        Ok(())
    })?;
    if let Some((part, _, offset)) = differing.first() {
        for (part, index, _) in &differing {
            if let Some(done) = progress.done.get_mut(part.name()) {
                done.remove(index);
            }
        }
        folder::save_progress(progress_path, progress)?;
        return Err(Error::Input(format!(
            "the uploaded snapshot differs from {} at {offset} ({} slices in all): run the upload again to send them again",
            part.file(),
            differing.len()
        )));
    }
    Ok(())
}

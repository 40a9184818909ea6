//! `ic-backup snapshot download`: a snapshot into the folder dfx and
//! icp-cli write, its slices many at a time, each written at its place in
//! its file as it comes (memory flat in the snapshot's size). A progress
//! file in the folder records the slices on disk (synced first) with their
//! SHA-256, bound to the network, the canister and the snapshot: a rerun
//! after any interruption fetches only the rest. At the end every file is
//! read back against those digests (each chunk against its name) and the
//! progress file goes: a folder without one is whole.

use super::folder::{self, Part};
use super::{call, decode, metadata, Management};
use crate::error::{Error, Result};
use crate::ops::sha256_hex;
use candid::CandidType;
use ic_management_canister_types::{ReadCanisterSnapshotDataResult, SnapshotDataKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// The progress file of a download.
pub const PROGRESS: &str = ".ic-backup-download.json";

/// How often the slices on disk are synced and recorded.
const CHECKPOINT: Duration = Duration::from_secs(1);

/// What a download brings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parts {
    /// Everything: module, heap, stable memory and chunks, as dfx and
    /// icp-cli download them.
    All,
    /// What an offline run needs: the module and stable memory.
    ModuleAndStable,
}

impl Parts {
    fn has(self, part: Part) -> bool {
        self == Parts::All || part != Part::Heap
    }
}

#[derive(Serialize, Deserialize)]
struct Progress {
    network: String,
    canister: String,
    snapshot_id: String,
    /// SHA-256 of the folder's `metadata.json`, as the download wrote it.
    metadata_sha256: String,
    /// By part: the slices on disk and synced, each with its SHA-256.
    done: BTreeMap<String, BTreeMap<u64, String>>,
}

/// What a download moved.
#[derive(Debug, Default)]
pub struct Downloaded {
    pub bytes: u64,
    pub calls: u64,
    /// It went on from an earlier run's progress.
    pub resumed: bool,
    /// The folder already held the snapshot whole (an earlier run finished
    /// it, and was cut short only after): nothing was moved.
    pub already: bool,
}

#[derive(CandidType)]
struct ReadArgs<'a> {
    canister_id: candid::Principal,
    snapshot_id: &'a serde_bytes::Bytes,
    kind: SnapshotDataKind,
}

/// Downloads snapshot `id` into `dir` (new, empty, or holding an unfinished
/// download of the same snapshot), `parallel` slices in flight.
pub fn download(
    management: &mut dyn Management,
    id: &[u8],
    dir: &Path,
    parallel: usize,
    parts: Parts,
    quiet: bool,
) -> Result<Downloaded> {
    let progress_path = dir.join(PROGRESS);
    let (mut progress, meta, resumed) = match start(management, id, dir, &progress_path, parts)? {
        Start::Go(progress, meta, resumed) => (progress, *meta, resumed),
        Start::Whole => {
            return Ok(Downloaded {
                calls: 1,
                resumed: true,
                already: true,
                ..Downloaded::default()
            })
        }
    };
    let canister = management.canister();
    let mut files = Vec::new();
    for part in Part::ALL.into_iter().filter(|part| parts.has(*part)) {
        let path = dir.join(part.file());
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|source| Error::io(&path, source))?;
        let len = part.len(&meta);
        file.set_len(len)
            .map_err(|source| Error::io(&path, source))?;
        files.push((part, path, file));
    }
    let wanted: Vec<(usize, u64, u64, u64)> = files
        .iter()
        .enumerate()
        .flat_map(|(at, (part, _, _))| {
            let done = progress.done.get(part.name());
            folder::slices(part.len(&meta))
                .filter(move |(index, _, _)| done.is_none_or(|done| !done.contains_key(index)))
                .map(move |(index, offset, size)| (at, index, offset, size))
        })
        .collect();
    let total: u64 = wanted.iter().map(|(_, _, _, size)| size).sum();
    let bar = crate::progress::bar(Some(total), "downloading", true, quiet);
    let mut report = Downloaded {
        resumed,
        ..Downloaded::default()
    };
    let mut pending: Vec<(Part, u64, String)> = Vec::new();
    let mut synced_at = Instant::now();
    let mut calls = wanted.iter().map(|&(at, _, offset, size)| {
        let arg = ReadArgs {
            canister_id: canister,
            snapshot_id: serde_bytes::Bytes::new(id),
            kind: files[at].0.read(offset, size),
        };
        super::encode(arg).map(|arg| ("read_canister_snapshot_data".to_string(), arg))
    });
    let result = management.manage_many(&mut calls, parallel, &mut |n, reply| {
        let (at, index, offset, size) = wanted[n];
        let (part, path, file) = &files[at];
        let ReadCanisterSnapshotDataResult { chunk } =
            decode("read_canister_snapshot_data", &reply)?;
        if chunk.len() as u64 != size {
            return Err(Error::Input(format!(
                "the slice of {} at {offset}: expected {size} bytes, the canister sent {}",
                part.file(),
                chunk.len()
            )));
        }
        file.write_all_at(&chunk, offset)
            .map_err(|source| Error::io(path, source))?;
        pending.push((*part, index, sha256_hex(&chunk)));
        report.bytes += size;
        report.calls += 1;
        bar.inc(size);
        if synced_at.elapsed() >= CHECKPOINT {
            record(&files, &mut pending, &mut progress, &progress_path)?;
            synced_at = Instant::now();
        }
        Ok(())
    });
    // What is on disk is recorded, whatever stopped the download.
    let recorded = record(&files, &mut pending, &mut progress, &progress_path);
    bar.finish_and_clear();
    result?;
    recorded?;
    if parts == Parts::All {
        report.calls += chunks(management, id, dir, &meta)?;
    }
    verify(&files, &mut progress, &progress_path)?;
    crate::durable::remove(&progress_path)?;
    Ok(report)
}

/// Where a download starts.
enum Start {
    /// From this progress (`true`: an earlier run's), with the snapshot's
    /// metadata.
    Go(
        Progress,
        Box<ic_management_canister_types::ReadCanisterSnapshotMetadataResult>,
        bool,
    ),
    /// Nowhere: the folder holds the snapshot whole.
    Whole,
}

/// The progress to go on from: an earlier run's (checked to belong to this
/// download), or a new one, with the snapshot's metadata written; or none,
/// where the folder already holds this snapshot (`Start::Whole`).
fn start(
    management: &mut dyn Management,
    id: &[u8],
    dir: &Path,
    progress_path: &Path,
    parts: Parts,
) -> Result<Start> {
    let network = management.network();
    let canister = management.canister().to_text();
    let snapshot_id = hex::encode(id);
    if let Some(progress) = folder::load_progress::<Progress>(progress_path)? {
        if (&progress.network, &progress.canister, &progress.snapshot_id)
            != (&network, &canister, &snapshot_id)
        {
            return Err(Error::Input(format!(
                "{} holds an unfinished download of snapshot {} of canister {} on {}, not of snapshot {snapshot_id} of {canister} on {network}: finish that one with the same arguments, or download into another folder",
                dir.display(),
                progress.snapshot_id,
                progress.canister,
                progress.network
            )));
        }
        let meta = metadata(management, id)?;
        let expected = metadata_json(&meta)?;
        let metadata_path = dir.join(folder::METADATA);
        // The snapshot's metadata is still the one the progress recorded.
        let recorded = sha256_hex(&expected) == progress.metadata_sha256;
        match std::fs::read(&metadata_path) {
            Ok(written) if recorded && written == expected => {}
            // Cut short between the progress file and the metadata it
            // records: written now.
            Err(source) if recorded && source.kind() == std::io::ErrorKind::NotFound => {
                crate::durable::write_atomically(&metadata_path, &expected)?;
            }
            Err(source) if source.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::io(&metadata_path, source));
            }
            _ => {
                return Err(Error::Input(format!(
                    "{}: the metadata of the unfinished download is not the snapshot's any more (the file changed, or the snapshot was replaced): download into another folder",
                    dir.display()
                )));
            }
        }
        return Ok(Start::Go(progress, Box::new(meta), true));
    }
    if whole(management, id, dir, parts)? {
        return Ok(Start::Whole);
    }
    for file in [
        folder::METADATA,
        "wasm_module.bin",
        "wasm_memory.bin",
        "stable_memory.bin",
    ] {
        if dir.join(file).exists() {
            return Err(Error::Input(format!(
                "{} already holds a snapshot ({file}): download into a new or empty folder",
                dir.display()
            )));
        }
    }
    std::fs::create_dir_all(dir.join("wasm_chunk_store"))
        .map_err(|source| Error::io(dir, source))?;
    let meta = metadata(management, id)?;
    let written = metadata_json(&meta)?;
    let progress = Progress {
        network,
        canister,
        snapshot_id,
        metadata_sha256: sha256_hex(&written),
        done: BTreeMap::new(),
    };
    // The progress file first: a folder with metadata but no progress file
    // would look whole.
    folder::save_progress(progress_path, &progress)?;
    crate::durable::write_atomically(&dir.join(folder::METADATA), &written)?;
    Ok(Start::Go(progress, Box::new(meta), false))
}

/// Whether `dir`, without a progress file, holds snapshot `id` whole: the
/// snapshot's own `metadata.json`, and every file of `parts` at its size
/// (every chunk under its hash). A download removes its progress file only
/// after reading every file back against its digests, so a run cut short
/// after that finds its folder whole; a rerun then has nothing to do.
fn whole(management: &mut dyn Management, id: &[u8], dir: &Path, parts: Parts) -> Result<bool> {
    let Ok(written) = std::fs::read(dir.join(folder::METADATA)) else {
        return Ok(false);
    };
    let meta = metadata(management, id)?;
    if metadata_json(&meta)? != written {
        return Ok(false);
    }
    let sized = |path: &Path, len: u64| std::fs::metadata(path).is_ok_and(|m| m.len() == len);
    let files = Part::ALL
        .into_iter()
        .filter(|part| parts.has(*part))
        .all(|part| sized(&dir.join(part.file()), part.len(&meta)));
    let chunks = parts != Parts::All
        || meta
            .wasm_chunk_store
            .iter()
            .all(|chunk| folder::chunk_file(dir, &chunk.hash).exists());
    Ok(files && chunks)
}

/// `metadata.json` as dfx and icp-cli write it.
fn metadata_json(
    meta: &ic_management_canister_types::ReadCanisterSnapshotMetadataResult,
) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(meta).map_err(|error| Error::Input(format!("metadata.json: {error}")))
}

/// Syncs the files, then records the slices written since the last time.
fn record(
    files: &[(Part, std::path::PathBuf, File)],
    pending: &mut Vec<(Part, u64, String)>,
    progress: &mut Progress,
    progress_path: &Path,
) -> Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    for (_, path, file) in files {
        file.sync_data().map_err(|source| Error::io(path, source))?;
    }
    for (part, index, digest) in pending.drain(..) {
        progress
            .done
            .entry(part.name().to_string())
            .or_default()
            .insert(index, digest);
    }
    folder::save_progress(progress_path, progress)
}

/// Downloads the chunks the folder lacks, each checked against its name;
/// the calls made.
fn chunks(
    management: &mut dyn Management,
    id: &[u8],
    dir: &Path,
    meta: &ic_management_canister_types::ReadCanisterSnapshotMetadataResult,
) -> Result<u64> {
    let mut calls = 0;
    for chunk in &meta.wasm_chunk_store {
        let path = folder::chunk_file(dir, &chunk.hash);
        if path.exists() && folder::file_sha256(&path)?.as_slice() == chunk.hash.as_slice() {
            continue;
        }
        let arg = ReadArgs {
            canister_id: management.canister(),
            snapshot_id: serde_bytes::Bytes::new(id),
            kind: SnapshotDataKind::WasmChunk {
                hash: chunk.hash.clone(),
            },
        };
        let reply = call(management, "read_canister_snapshot_data", arg, true)?;
        let ReadCanisterSnapshotDataResult { chunk: bytes } =
            decode("read_canister_snapshot_data", &reply)?;
        if sha256_hex(&bytes) != hex::encode(&chunk.hash) {
            return Err(Error::Input(format!(
                "the chunk {} the canister sent has another SHA-256",
                hex::encode(&chunk.hash)
            )));
        }
        crate::durable::write_atomically(&path, &bytes)?;
        calls += 1;
    }
    Ok(calls)
}

/// Reads every file back against the digests of the slices downloaded; a
/// slice that differs is forgotten (a rerun fetches it again).
fn verify(
    files: &[(Part, std::path::PathBuf, File)],
    progress: &mut Progress,
    progress_path: &Path,
) -> Result<()> {
    for (part, path, file) in files {
        let len = file
            .metadata()
            .map_err(|source| Error::io(path, source))?
            .len();
        for (index, offset, size) in folder::slices(len) {
            let bytes = folder::read_at(file, path, offset, size)?;
            let done = progress.done.entry(part.name().to_string()).or_default();
            if done.get(&index).map(String::as_str) != Some(sha256_hex(&bytes).as_str()) {
                done.remove(&index);
                folder::save_progress(progress_path, progress)?;
                return Err(Error::Input(format!(
                    "{}: the {size} bytes at {offset} are not those downloaded (the disk or another program changed them): run the download again to fetch them again",
                    path.display()
                )));
            }
        }
    }
    Ok(())
}

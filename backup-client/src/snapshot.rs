//! A canister snapshot folder as `dfx canister snapshot download` and
//! `icp canister snapshot download` write it: `metadata.json` (the IC's
//! `read_canister_snapshot_metadata` reply), `wasm_module.bin` (the module,
//! often gzip-compressed), `wasm_memory.bin` (the heap), `stable_memory.bin`
//! (absent when stable memory is empty) and `wasm_chunk_store/`.
//!
//! The offline commands run the module over the stable memory, as over
//! `--wasm` and `--image`. Changes are written back to `stable_memory.bin`,
//! and `metadata.json`'s `stable_memory_size` follows, so the folder can
//! be uploaded again (`dfx canister snapshot upload --dir`).
//!
//! The two files change together: both are written under new names and
//! synced, then a commit file names the renames, then they are renamed
//! and the commit file removed. Whoever opens the folder next finishes
//! renames a commit file names, or removes new files no commit file names,
//! so a crash at any moment leaves the old pair or the new one.

use crate::durable;
use crate::error::{Error, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A downloaded snapshot folder, checked to be whole.
#[derive(Debug)]
pub struct Snapshot {
    pub dir: PathBuf,
    metadata: Value,
}

/// The commit file of a write of the pair: the renames it stands for.
const COMMIT: &str = "ic-backup-commit";
const STABLE_MEMORY: &str = "stable_memory.bin";
const METADATA: &str = "metadata.json";
const NEW: &str = ".new";

fn renames(dir: &Path) -> [(PathBuf, PathBuf); 2] {
    [STABLE_MEMORY, METADATA].map(|name| {
        let to = dir.join(name);
        (durable::with_suffix(&to, NEW), to)
    })
}

impl Snapshot {
    /// Finishes a write of the folder's stable memory and metadata that a
    /// crash cut short after its commit, or forgets one cut short before:
    /// the folder holds the old pair or the new one. The caller holds the
    /// folder's lock.
    pub fn recover(dir: &Path) -> Result<()> {
        let commit = dir.join(COMMIT);
        // The commit itself, cut short while it was being written: never
        // the folder's, whichever way the write ends.
        durable::remove(&backup_common::durable::temporary_of(&commit))?;
        if commit.exists() {
            for (from, to) in renames(dir) {
                if from.exists() {
                    std::fs::rename(&from, &to).map_err(|source| Error::io(&to, source))?;
                }
            }
            durable::sync_dir(&commit)?;
            durable::remove(&commit)?;
            eprintln!(
                "{}: finished writing its stable memory and metadata, which a stopped command had begun",
                dir.display()
            );
        } else {
            for (from, _) in renames(dir) {
                durable::remove(&from)?;
            }
        }
        Ok(())
    }

    /// The folder `dir`, refused unless its files are those a download
    /// writes and their sizes are those its metadata records.
    pub fn open(dir: &Path) -> Result<Self> {
        let not_a_snapshot = |what: String| {
            Error::Input(format!(
                "{}: expected a snapshot folder as `dfx canister snapshot download --dir` or `icp canister snapshot download` writes it (metadata.json, wasm_module.bin, stable_memory.bin): {what}",
                dir.display()
            ))
        };
        if dir.join(crate::ops::snapshot::DOWNLOAD_PROGRESS).exists() {
            return Err(not_a_snapshot(format!(
                "an unfinished download ({} is there): run the `ic-backup snapshot download` that began it again to finish it",
                crate::ops::snapshot::DOWNLOAD_PROGRESS
            )));
        }
        let metadata_path = dir.join("metadata.json");
        let bytes = std::fs::read(&metadata_path)
            .map_err(|error| not_a_snapshot(format!("metadata.json: {error}")))?;
        let metadata: Value = serde_json::from_slice(&bytes)
            .map_err(|error| not_a_snapshot(format!("metadata.json is not JSON: {error}")))?;
        let size = |field: &str| {
            metadata[field].as_u64().ok_or_else(|| {
                not_a_snapshot(format!(
                    "metadata.json has no `{field}` (a number of bytes)"
                ))
            })
        };
        let sizes = [size("wasm_module_size")?, size("stable_memory_size")?];
        let snapshot = Snapshot {
            dir: dir.to_path_buf(),
            metadata,
        };
        for (file, recorded) in [snapshot.wasm(), snapshot.stable_memory()]
            .into_iter()
            .zip(sizes)
        {
            let found = match std::fs::metadata(&file) {
                Ok(meta) => meta.len(),
                // A download writes no file for an empty stable memory.
                Err(_) if recorded == 0 && file == snapshot.stable_memory() => 0,
                Err(error) => return Err(not_a_snapshot(format!("{}: {error}", file.display()))),
            };
            if found != recorded {
                return Err(not_a_snapshot(format!(
                    "metadata.json records {recorded} bytes for {}, the file has {found}: an incomplete download, or a file changed by hand (then set the size in metadata.json to match)",
                    file.display()
                )));
            }
        }
        Ok(snapshot)
    }

    pub fn wasm(&self) -> PathBuf {
        self.dir.join("wasm_module.bin")
    }

    pub fn stable_memory(&self) -> PathBuf {
        self.dir.join("stable_memory.bin")
    }

    /// Replaces `stable_memory.bin` with `bytes` and records their size
    /// in `metadata.json`, both at once: a crash at any moment leaves the
    /// old pair or the new one (see [`Snapshot::recover`]).
    pub fn write_stable_memory(&mut self, bytes: &[u8]) -> Result<()> {
        let mut metadata = self.metadata.clone();
        metadata["stable_memory_size"] = Value::from(bytes.len() as u64);
        let text = serde_json::to_vec_pretty(&metadata)
            .map_err(|error| Error::Input(error.to_string()))?;
        let [(memory_new, memory), (metadata_new, metadata_path)] = renames(&self.dir);
        write_synced(&memory_new, bytes)?;
        write_synced(&metadata_new, &text)?;
        // Durable with the directory synced by the atomic write: from here
        // on the new pair is the folder's, whatever happens.
        durable::write_atomically(
            &self.dir.join(COMMIT),
            format!("{STABLE_MEMORY}{NEW} -> {STABLE_MEMORY}\n{METADATA}{NEW} -> {METADATA}\n")
                .as_bytes(),
        )?;
        for (from, to) in [(&memory_new, &memory), (&metadata_new, &metadata_path)] {
            std::fs::rename(from, to).map_err(|source| Error::io(to, source))?;
        }
        durable::sync_dir(&memory)?;
        durable::remove(&self.dir.join(COMMIT))?;
        self.metadata = metadata;
        Ok(())
    }
}

/// Writes `bytes` to a new file at `path` (blocks of zeros left as holes, as
/// `write_atomically` leaves them) and syncs it.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |source| Error::io(path, source);
    let mut file = std::fs::File::create(path).map_err(io)?;
    backup_common::durable::write_sparse(&mut file, bytes).map_err(io)?;
    file.sync_all().map_err(io)
}

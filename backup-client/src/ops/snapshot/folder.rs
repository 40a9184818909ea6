//! A snapshot folder as dfx and icp-cli write it (`metadata.json`,
//! `wasm_module.bin`, `wasm_memory.bin`, `stable_memory.bin`,
//! `wasm_chunk_store/<hash>.bin`), its parts, and the progress file a
//! transfer keeps in it until it is done.

use crate::durable;
use crate::error::{Error, Result};
use ic_management_canister_types::{
    ReadCanisterSnapshotMetadataResult, SnapshotDataKind, SnapshotDataOffset,
};
use serde::{de::DeserializeOwned, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// One of the three parts of a snapshot moved in slices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Module,
    Heap,
    Stable,
}

impl Part {
    pub const ALL: [Part; 3] = [Part::Module, Part::Heap, Part::Stable];

    /// Its file in the folder.
    pub fn file(self) -> &'static str {
        match self {
            Part::Module => "wasm_module.bin",
            Part::Heap => "wasm_memory.bin",
            Part::Stable => "stable_memory.bin",
        }
    }

    /// Its name in progress files.
    pub fn name(self) -> &'static str {
        match self {
            Part::Module => "wasm_module",
            Part::Heap => "wasm_memory",
            Part::Stable => "stable_memory",
        }
    }

    /// Its length, as the metadata says.
    pub fn len(self, metadata: &ReadCanisterSnapshotMetadataResult) -> u64 {
        match self {
            Part::Module => metadata.wasm_module_size,
            Part::Heap => metadata.wasm_memory_size,
            Part::Stable => metadata.stable_memory_size,
        }
    }

    /// What `read_canister_snapshot_data` reads of it.
    pub fn read(self, offset: u64, size: u64) -> SnapshotDataKind {
        match self {
            Part::Module => SnapshotDataKind::WasmModule { offset, size },
            Part::Heap => SnapshotDataKind::WasmMemory { offset, size },
            Part::Stable => SnapshotDataKind::StableMemory { offset, size },
        }
    }

    /// Where `upload_canister_snapshot_data` writes into it.
    pub fn write(self, offset: u64) -> SnapshotDataOffset {
        match self {
            Part::Module => SnapshotDataOffset::WasmModule { offset },
            Part::Heap => SnapshotDataOffset::WasmMemory { offset },
            Part::Stable => SnapshotDataOffset::StableMemory { offset },
        }
    }
}

/// The slices of a part of `len` bytes: (index, offset, size).
pub fn slices(len: u64) -> impl Iterator<Item = (u64, u64, u64)> {
    let count = len.div_ceil(super::SLICE);
    (0..count).map(move |index| {
        let offset = index * super::SLICE;
        (index, offset, (len - offset).min(super::SLICE))
    })
}

/// The folder's `metadata.json`, as dfx and icp-cli write it.
pub const METADATA: &str = "metadata.json";

/// The file of chunk `hash` in the folder's chunk store.
pub fn chunk_file(dir: &Path, hash: &[u8]) -> PathBuf {
    dir.join("wasm_chunk_store")
        .join(format!("{}.bin", hex::encode(hash)))
}

/// Reads the folder's metadata.
pub fn read_metadata(dir: &Path) -> Result<ReadCanisterSnapshotMetadataResult> {
    let path = dir.join(METADATA);
    let bytes = std::fs::read(&path).map_err(|source| {
        Error::file(
            &path,
            "the snapshot's metadata, as dfx and icp-cli download it",
            source,
        )
    })?;
    serde_json::from_slice(&bytes).map_err(|error| {
        Error::Input(format!(
            "{}: not a snapshot's metadata as dfx and icp-cli write it: {error}",
            path.display()
        ))
    })
}

/// SHA-256 of a file, read in slices (memory flat in its size).
pub fn file_sha256(path: &Path) -> Result<[u8; 32]> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|source| Error::io(path, source))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 1 << 20];
    loop {
        let read = file
            .read(&mut buffer)
            .map_err(|source| Error::io(path, source))?;
        if read == 0 {
            return Ok(hasher.finalize().into());
        }
        hasher.update(&buffer[..read]);
    }
}

/// Reads `size` bytes of `file` at `offset`.
pub fn read_at(file: &std::fs::File, path: &Path, offset: u64, size: u64) -> Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mut bytes = vec![0; size as usize];
    file.read_exact_at(&mut bytes, offset)
        .map_err(|source| Error::io(path, source))?;
    Ok(bytes)
}

/// A progress file in the folder: read if there is one.
pub fn load_progress<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|error| {
            Error::Input(format!(
                "{}: not a progress file of ic-backup ({error}); remove it to start over",
                path.display()
            ))
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::io(path, source)),
    }
}

/// Writes a progress file atomically and durably.
pub fn save_progress<T: Serialize>(path: &Path, progress: &T) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(progress)
        .map_err(|error| Error::Input(format!("{}: {error}", path.display())))?;
    durable::write_atomically(path, &bytes)
}

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

use crate::durable;
use crate::error::{CliError, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A downloaded snapshot folder, checked to be whole.
#[derive(Debug)]
pub struct Snapshot {
    pub dir: PathBuf,
    metadata: Value,
}

impl Snapshot {
    /// The folder `dir`, refused unless its files are those a download
    /// writes and their sizes are those its metadata records.
    pub fn open(dir: &Path) -> Result<Self> {
        let not_a_snapshot = |what: String| {
            CliError::Input(format!(
                "{}: expected a snapshot folder as `dfx canister snapshot download --dir` or `icp canister snapshot download` writes it (metadata.json, wasm_module.bin, stable_memory.bin): {what}",
                dir.display()
            ))
        };
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

    /// Records a new stable memory size in `metadata.json` (atomically),
    /// after `stable_memory.bin` was written.
    pub fn record_stable_memory_size(&mut self, len: u64) -> Result<()> {
        if self.metadata["stable_memory_size"].as_u64() == Some(len) {
            return Ok(());
        }
        self.metadata["stable_memory_size"] = Value::from(len);
        let text = serde_json::to_vec_pretty(&self.metadata)
            .map_err(|error| CliError::Input(error.to_string()))?;
        durable::write_atomically(&self.dir.join("metadata.json"), &text)
    }
}

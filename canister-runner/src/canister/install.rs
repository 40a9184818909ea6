//! The management canister's methods that put code on the canister or take
//! it off, as its controllers call them: `install_code` (install, reinstall,
//! upgrade with its options), the chunk store (`upload_chunk`,
//! `stored_chunks`, `clear_chunk_store`) and `install_chunked_code`, and
//! `uninstall_code`. As on the IC, each is one message: it succeeds whole
//! (the canister version goes up by one, the history records it) or
//! changes nothing.

use super::{sha256, Canister, Hash, Installed};
use crate::call::RejectCode;
use crate::error::RunnerError;
use crate::host::Entry;
use crate::management::{self, CanisterIdArg, Change, Mode, Outcome};
use candid::{CandidType, Principal};
use ic_management_canister_types::{
    CanisterInstallMode, ChunkHash, UpgradeFlags, WasmMemoryPersistence,
};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A chunk holds at most 1 MiB…
pub const MAX_CHUNK_BYTES: usize = 1 << 20;
/// …and the store at most this many (100 MiB, the largest module).
pub const MAX_CHUNKS: usize = 100;

/// The metadata section (`icp:private` or `icp:public`) of a module written
/// for enhanced orthogonal persistence (Motoko's), whose heap an upgrade
/// keeps.
const PERSISTENCE_SECTION: &str = "enhanced-orthogonal-persistence";

/// Whether a module's metadata says it keeps its heap across upgrades.
fn persists(metadata: &[crate::module::Metadata]) -> bool {
    metadata
        .iter()
        .any(|section| section.name == PERSISTENCE_SECTION)
}

/// A module that exports nothing: what an uninstalled canister holds in
/// place of one, so that it answers nothing. `(module (memory 0))` with the
/// memory exported as `memory`.
pub const NO_MODULE: &[u8] = &[
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
    0x05, 0x03, 0x01, 0x00, 0x00, // one memory, at least 0 pages
    0x07, 0x0a, 0x01, 0x06, b'm', b'e', b'm', b'o', b'r', b'y', 0x02, 0x00, // export
];

/// `install_code`'s argument, the module read as one blob.
#[derive(CandidType, Deserialize)]
struct InstallCodeArgs {
    mode: CanisterInstallMode,
    canister_id: Principal,
    #[serde(with = "serde_bytes")]
    wasm_module: Vec<u8>,
    #[serde(with = "serde_bytes")]
    arg: Vec<u8>,
}

#[derive(CandidType, Deserialize)]
struct UploadChunkArgs {
    canister_id: Principal,
    #[serde(with = "serde_bytes")]
    chunk: Vec<u8>,
}

#[derive(CandidType, Deserialize)]
struct InstallChunkedCodeArgs {
    mode: CanisterInstallMode,
    target_canister: Principal,
    store_canister: Option<Principal>,
    chunk_hashes_list: Vec<ChunkHash>,
    #[serde(with = "serde_bytes")]
    wasm_module_hash: Vec<u8>,
    #[serde(with = "serde_bytes")]
    arg: Vec<u8>,
}

/// Candid `()`, what the methods without a result reply.
const EMPTY: &[u8] = b"DIDL\x00\x00";

impl Canister {
    /// `install_code` by a controller.
    pub(super) fn install_code(&mut self, caller: Principal, arg: &[u8]) -> Outcome {
        let InstallCodeArgs {
            mode,
            canister_id,
            wasm_module,
            arg,
        } = management::decode("install_code", arg)?;
        management::this(self.canister_id(), canister_id)?;
        self.deploy(caller, mode, wasm_module.into(), &arg)
    }

    /// `install_chunked_code` by a controller: the module is the chunks
    /// named, in order, from this canister's chunk store.
    pub(super) fn install_chunked_code(&mut self, caller: Principal, arg: &[u8]) -> Outcome {
        let InstallChunkedCodeArgs {
            mode,
            target_canister,
            store_canister,
            chunk_hashes_list,
            wasm_module_hash,
            arg,
        } = management::decode("install_chunked_code", arg)?;
        let own = self.canister_id();
        let Ok(given) = <Hash>::try_from(wasm_module_hash.as_slice()) else {
            return Err((
                RejectCode::CanisterError,
                format!("IC0504: Invalid wasm hash {wasm_module_hash:?}"),
            ));
        };
        management::this(own, target_canister)?;
        if let Some(store) = store_canister.filter(|store| *store != own) {
            return Err((
                RejectCode::DestinationInvalid,
                format!("IC0301: InstallChunkedCode Error: Store canister {store} was not found on the subnet of target canister {own}"),
            ));
        }
        let mut module = Vec::new();
        for ChunkHash { hash } in &chunk_hashes_list {
            let Ok(hash) = <Hash>::try_from(hash.as_slice()) else {
                return Err(chunk_store(
                    "Chunk hash is invalid. The length is not 32".into(),
                ));
            };
            let Some(chunk) = self.chunks.get(&hash) else {
                return Err(chunk_store(format!("Chunk hash {hash:?} was not found")));
            };
            module.extend_from_slice(chunk);
        }
        let hash = sha256(&module);
        if given != hash {
            return Err(chunk_store(format!(
                "Wasm module hash {hash:?} does not match given hash WasmHash({given:?})"
            )));
        }
        self.deploy(caller, mode, module.into(), &arg)
    }

    /// `upload_chunk` by a controller or the canister itself: the chunk
    /// enters the store (once: an upload of a chunk it holds changes
    /// nothing) and its SHA-256 is the reply.
    pub(super) fn upload_chunk(&mut self, arg: &[u8]) -> Outcome {
        let UploadChunkArgs { canister_id, chunk } = management::decode("upload_chunk", arg)?;
        management::this(self.canister_id(), canister_id)?;
        let hash = add_chunk(&mut self.chunks, chunk)?;
        management::encode(ChunkHash {
            hash: hash.to_vec(),
        })
    }

    /// `stored_chunks`: the hashes of the chunks in the store.
    pub(super) fn stored_chunks(&self, arg: &[u8]) -> Outcome {
        let CanisterIdArg { canister_id } = management::decode("stored_chunks", arg)?;
        management::this(self.canister_id(), canister_id)?;
        let hashes: Vec<ChunkHash> = self
            .chunks
            .keys()
            .map(|hash| ChunkHash {
                hash: hash.to_vec(),
            })
            .collect();
        management::encode(hashes)
    }

    /// `clear_chunk_store`: the store emptied.
    pub(super) fn clear_chunk_store(&mut self, arg: &[u8]) -> Outcome {
        let CanisterIdArg { canister_id } = management::decode("clear_chunk_store", arg)?;
        management::this(self.canister_id(), canister_id)?;
        self.chunks.clear();
        Ok(EMPTY.to_vec())
    }

    /// `uninstall_code`: the module, its heap, stable memory, certified
    /// data, log and chunk store are gone; the canister answers no message
    /// until code is installed again. Its snapshots stay.
    pub(super) fn uninstall_code(&mut self, caller: Principal, arg: &[u8]) -> Outcome {
        let CanisterIdArg { canister_id } = management::decode("uninstall_code", arg)?;
        management::this(self.canister_id(), canister_id)?;
        self.uninstall(caller)
            .map_err(|error| (RejectCode::CanisterError, error.to_string()))?;
        Ok(EMPTY.to_vec())
    }

    /// Uninstalls the code as `caller` did (see `uninstall_code`).
    pub(super) fn uninstall(&mut self, caller: Principal) -> Result<(), RunnerError> {
        self.flush_prints(true);
        self.exec.load(NO_MODULE)?;
        let env = self.exec.env_mut();
        env.stable = env.stable.replacement(Vec::new());
        env.certified_data.clear();
        env.version += 1;
        self.exec.resync_heap();
        self.module = None;
        self.metadata.clear();
        self.chunks.clear();
        self.log.clear();
        self.flushed = self.exec.env().log.len();
        let (now, version) = (self.exec.env().time_nanos, self.exec.env().version);
        self.history.push(Change::uninstall(now, version, caller));
        Ok(())
    }

    /// Puts `wasm` on the canister as `mode` says, as `caller`: the hooks
    /// run as on the IC, and a failure changes nothing.
    fn deploy(
        &mut self,
        caller: Principal,
        mode: CanisterInstallMode,
        wasm: Arc<[u8]>,
        arg: &[u8],
    ) -> Outcome {
        let id = self.canister_id();
        // What ran before (an install's hooks) is in the log before this.
        self.flush_prints(true);
        let persistence = persists(&crate::module::metadata(&wasm));
        let result = match mode {
            CanisterInstallMode::Install if self.module.is_some() => {
                return Err((
                    RejectCode::CanisterError,
                    format!("IC0514: Canister {id} cannot be installed because the canister is not empty. Try installing with mode='reinstall' instead.\nCheck that you want to overwrite the canister and, if so, use mode='reinstall'. See documentation: {DOCS}#canister-not-empty"),
                ))
            }
            CanisterInstallMode::Install => self.install_fresh(caller, Mode::install, wasm, arg),
            CanisterInstallMode::Reinstall => self.install_fresh(caller, Mode::reinstall, wasm, arg),
            CanisterInstallMode::Upgrade(_) if self.module.is_none() => {
                return Err((RejectCode::CanisterError, no_module(id)))
            }
            CanisterInstallMode::Upgrade(flags) => {
                let UpgradeFlags {
                    skip_pre_upgrade,
                    wasm_memory_persistence,
                } = flags.unwrap_or_default();
                let keep = wasm_memory_persistence == Some(WasmMemoryPersistence::Keep);
                let invalid = |message: &str| {
                    Err((RejectCode::CanisterError, format!("IC0504: {message}")))
                };
                if keep && !persistence {
                    return invalid("Invalid upgrade option: The `wasm_memory_persistence: opt Keep` upgrade option requires that the new canister module supports enhanced orthogonal persistence.");
                }
                if wasm_memory_persistence.is_none() && persists(&self.metadata) {
                    return invalid("Missing upgrade option: Enhanced orthogonal persistence requires the `wasm_memory_persistence` upgrade option.");
                }
                if keep {
                    return Err((
                        RejectCode::CanisterError,
                        format!("IC0504: the runner does not keep a heap across an upgrade (`wasm_memory_persistence = opt variant {{ keep }}`): canister {id} is unchanged"),
                    ));
                }
                self.upgrade_to(caller, wasm, arg, skip_pre_upgrade == Some(true))
            }
        };
        result
            .map(|()| EMPTY.to_vec())
            .map_err(|error| (RejectCode::CanisterError, install_error(id, &error)))
    }

    /// Installs `wasm` on an empty heap and stable memory and runs its
    /// `canister_init(arg)`, as `caller`: a new install or a reinstall.
    /// If init fails, the canister is as it was.
    fn install_fresh(
        &mut self,
        caller: Principal,
        mode: Mode,
        wasm: Arc<[u8]>,
        arg: &[u8],
    ) -> Result<(), RunnerError> {
        let old = self.exec.loaded();
        self.exec.load(&wasm)?;
        let env = self.exec.env_mut();
        let fresh = env.stable.replacement(Vec::new());
        let stable = std::mem::replace(&mut env.stable, fresh);
        let certified = std::mem::take(&mut env.certified_data);
        let installer = std::mem::replace(&mut self.installer, caller);
        let limits = self.limits;
        let env = self.exec.env_mut();
        // The hooks see the version the install makes.
        env.version += 1;
        env.stable.begin();
        env.stable.start_message(limits.upgrade_stable_access);
        match self.start_module(Entry::Init, arg, limits.upgrade_instructions) {
            Ok(_) => {
                self.exec.env_mut().stable.commit();
                self.exec.resync_heap();
                self.log.clear();
                self.deployed(mode, Installed::new(wasm));
                Ok(())
            }
            Err(error) => {
                self.exec.put_back(old);
                let env = self.exec.env_mut();
                env.stable = stable;
                env.certified_data = certified;
                env.version -= 1;
                self.installer = installer;
                self.log_failure(&error);
                Err(error)
            }
        }
    }

    /// Records a deployment that succeeded (its version counted before its
    /// hooks ran): the module, the history; what its hooks printed enters
    /// the log.
    pub(super) fn deployed(&mut self, mode: Mode, module: Installed) {
        self.metadata = crate::module::metadata(&module.bytes);
        let hash = module.hash;
        self.module = Some(module);
        let (now, version) = (self.exec.env().time_nanos, self.exec.env().version);
        self.history
            .push(Change::deployment(now, version, self.installer, mode, hash));
        self.flush_prints(true);
    }

    /// An install that failed changes nothing but the log, as on the IC:
    /// what its hooks printed, and how one trapped.
    pub(super) fn log_failure(&mut self, error: &RunnerError) {
        match error {
            RunnerError::Lifecycle { message, .. } => self.log_trap(message),
            _ => self.flush_prints(true),
        }
    }
}

/// Adds `chunk` to `store` (once: a chunk it holds changes nothing), as
/// the IC's chunk store takes it; its SHA-256.
pub(super) fn add_chunk(
    store: &mut BTreeMap<Hash, Arc<[u8]>>,
    chunk: Vec<u8>,
) -> Result<Hash, (RejectCode, String)> {
    if chunk.len() > MAX_CHUNK_BYTES {
        return Err(chunk_store(format!(
            "Wasm chunk size {} exceeds the maximum chunk size of {MAX_CHUNK_BYTES}",
            chunk.len()
        )));
    }
    let hash = sha256(&chunk);
    if !store.contains_key(&hash) && store.len() >= MAX_CHUNKS {
        return Err(chunk_store(format!(
            "Wasm chunk store has already reached maximum capacity of {} bytes or the maximum number of entries, {MAX_CHUNKS}",
            MAX_CHUNKS * MAX_CHUNK_BYTES
        )));
    }
    store.entry(hash).or_insert_with(|| chunk.into());
    Ok(hash)
}

/// Where the IC's error messages send their reader.
pub(super) const DOCS: &str =
    "http://internetcomputer.org/docs/current/references/execution-errors";

/// The IC's refusal of a request that breaks the chunk store's rules.
pub(super) fn chunk_store(message: String) -> (RejectCode, String) {
    (
        RejectCode::CanisterError,
        format!("IC0504: Error from Wasm chunk store: {message}.\nUse the `stored_chunks` API to check which hashes are present or top up the canister if it is low on cycles. See documentation: {DOCS}#wasm-chunk-store-error"),
    )
}

/// The IC's answer to a message for a canister without a module.
pub(super) fn no_module(id: Principal) -> String {
    format!("IC0537: Error from Canister {id}: Attempted to execute a message, but the canister contains no Wasm module..\nPlease install code to this canister before calling it. See documentation: {DOCS}#wasm-module-not-found")
}

/// How a failed install is told: a module the IC would not take, or a
/// hook that trapped, in the IC's words (the hook named after them).
fn install_error(id: Principal, error: &RunnerError) -> String {
    let handle = format!("Consider gracefully handling failures from this canister or altering the canister to handle exceptions. See documentation: {DOCS}");
    match error {
        RunnerError::BadModule(reason) | RunnerError::MissingExport(reason) => {
            format!("IC0505: Error from Canister {id}: Canister's Wasm module is not valid: {reason}.\nMake sure the module was built for the Internet Computer (wasm32-unknown-unknown, or gzip-compressed) and exports what a canister exports. See documentation: {DOCS}#invalid-wasm")
        }
        RunnerError::Lifecycle { stage, message } => match message.strip_prefix("the canister trapped: ") {
            Some(text) => format!("IC0503: Error from Canister {id}: Canister called `ic0.trap` with message: '{text}'.\n{handle}#trapped-explicitly (in {stage})"),
            None => format!("IC0502: Error from Canister {id}: Canister trapped: {message}.\n{handle}#trapped (in {stage})"),
        },
        other => format!("IC0503: Error from Canister {id}: {other}"),
    }
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

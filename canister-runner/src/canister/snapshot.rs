//! Canister snapshots, as the management canister takes, lists, reads,
//! uploads, loads and deletes them for the canister's controllers (and,
//! for listing and reading, whom `snapshot_visibility` allows): the
//! module, heap, stable memory, mutable globals, certified data and chunk
//! store of one moment, at most [`MAX_SNAPSHOTS`] of them, read and
//! written in slices of at most [`MAX_SLICE`] bytes.

use super::install::MAX_CHUNK_BYTES;
use super::{Canister, Hash, Installed};
use crate::call::RejectCode;
use crate::management::{self, Change, Outcome};
use crate::pieces::{Pieces, PiecesRecord};
use candid::{CandidType, Nat, Principal};
use ic_management_canister_types::{
    CanisterTimer, ChunkHash, DeleteCanisterSnapshotArgs, LoadCanisterSnapshotArgs,
    OnLowWasmMemoryHookStatus, ReadCanisterSnapshotDataArgs, ReadCanisterSnapshotDataResult,
    ReadCanisterSnapshotMetadataArgs, ReadCanisterSnapshotMetadataResult, SnapshotDataKind,
    SnapshotMetadataGlobal, SnapshotSource, TakeCanisterSnapshotArgs,
    UploadCanisterSnapshotMetadataArgs, UploadCanisterSnapshotMetadataResult,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use wasmi::Val;

/// At most this many snapshots of a canister.
pub const MAX_SNAPSHOTS: usize = 10;
/// A slice read from a snapshot is at most this long.
pub const MAX_SLICE: u64 = 2_000_000;
/// The largest module, heap and stable memory a snapshot may declare.
const MAX_MODULE: u64 = 100 << 20;
const MAX_HEAP: u64 = 4 << 30;
/// At most this many globals, and this much certified data.
const MAX_GLOBALS: usize = 1000;
const MAX_CERTIFIED_DATA: usize = 32;

/// A global's value in a snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GlobalValue {
    I32(i32),
    I64(i64),
    /// The bits of the float.
    F32(u32),
    F64(u64),
    V128(u128),
}

/// The global timer a snapshot restores (an uploaded one's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Timer {
    Inactive,
    Active(u64),
}

/// The low-memory hook's status a snapshot restores (an uploaded one's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HookStatus {
    ConditionNotSatisfied,
    Ready,
    Executed,
}

/// What a snapshot keeps, its bytes named by their SHA-256 (the record's
/// form; see [`super::CanisterRecord`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotRecord {
    #[serde(with = "serde_bytes")]
    pub id: Vec<u8>,
    pub taken_at: u64,
    /// Made by `upload_canister_snapshot_metadata` (its data uploaded
    /// after), not taken from the canister.
    pub uploaded: bool,
    pub module: PiecesRecord,
    pub heap: PiecesRecord,
    pub stable: PiecesRecord,
    pub globals: Vec<GlobalValue>,
    #[serde(with = "serde_bytes")]
    pub certified_data: Vec<u8>,
    pub chunks: Vec<Hash>,
    pub canister_version: u64,
    pub global_timer: Option<Timer>,
    pub hook_status: Option<HookStatus>,
}

/// A snapshot, its bytes in memory.
#[derive(Clone)]
pub(crate) struct Snapshot {
    id: Vec<u8>,
    taken_at: u64,
    uploaded: bool,
    module: Pieces,
    heap: Pieces,
    stable: Pieces,
    globals: Vec<GlobalValue>,
    certified_data: Vec<u8>,
    chunks: BTreeMap<Hash, Arc<[u8]>>,
    canister_version: u64,
    global_timer: Option<Timer>,
    hook_status: Option<HookStatus>,
}

impl Snapshot {
    pub fn record(&self) -> SnapshotRecord {
        SnapshotRecord {
            id: self.id.clone(),
            taken_at: self.taken_at,
            uploaded: self.uploaded,
            module: self.module.record(),
            heap: self.heap.record(),
            stable: self.stable.record(),
            globals: self.globals.clone(),
            certified_data: self.certified_data.clone(),
            chunks: self.chunks.keys().copied().collect(),
            canister_version: self.canister_version,
            global_timer: self.global_timer,
            hook_status: self.hook_status,
        }
    }

    /// The snapshot `record` names, its bytes from `blob`.
    pub fn restore(
        record: &SnapshotRecord,
        blob: &dyn Fn(&Hash) -> Result<Vec<u8>, String>,
    ) -> Result<Snapshot, String> {
        Ok(Snapshot {
            id: record.id.clone(),
            taken_at: record.taken_at,
            uploaded: record.uploaded,
            module: Pieces::restore(&record.module, blob)?,
            heap: Pieces::restore(&record.heap, blob)?,
            stable: Pieces::restore(&record.stable, blob)?,
            globals: record.globals.clone(),
            certified_data: record.certified_data.clone(),
            chunks: record
                .chunks
                .iter()
                .map(|hash| Ok((*hash, Arc::<[u8]>::from(blob(hash)?))))
                .collect::<Result<_, String>>()?,
            canister_version: record.canister_version,
            global_timer: record.global_timer,
            hook_status: record.hook_status,
        })
    }

    /// Every content it holds, by its SHA-256.
    pub fn blobs(&self) -> impl Iterator<Item = (Hash, Arc<[u8]>)> + '_ {
        self.module
            .pieces()
            .chain(self.heap.pieces())
            .chain(self.stable.pieces())
            .chain(
                self.chunks
                    .iter()
                    .map(|(hash, bytes)| (*hash, bytes.clone())),
            )
    }

    /// Its size, as the IC counts it: the module, the memories, 32 bytes
    /// a global (the IC's instruction counter among them), the certified
    /// data, and 1 MiB a chunk.
    fn total_size(&self) -> u64 {
        self.module.len()
            + self.heap.len()
            + self.stable.len()
            + 32 * (self.globals.len() as u64 + 1)
            + self.certified_data.len() as u64
            + self.chunks.len() as u64 * MAX_CHUNK_BYTES as u64
    }

    fn summary(&self) -> ic_management_canister_types::Snapshot {
        ic_management_canister_types::Snapshot {
            id: self.id.clone(),
            taken_at_timestamp: self.taken_at,
            total_size: self.total_size(),
        }
    }
}

impl SnapshotRecord {
    /// The contents it names.
    pub fn blobs(&self) -> impl Iterator<Item = &Hash> {
        self.module
            .pieces
            .iter()
            .chain(&self.heap.pieces)
            .chain(&self.stable.pieces)
            .chain(&self.chunks)
    }
}

/// `upload_canister_snapshot_data`'s argument, its chunk read as one blob.
#[derive(CandidType, Deserialize)]
struct UploadDataArgs {
    canister_id: Principal,
    #[serde(with = "serde_bytes")]
    snapshot_id: Vec<u8>,
    kind: ic_management_canister_types::SnapshotDataOffset,
    #[serde(with = "serde_bytes")]
    chunk: Vec<u8>,
}

#[derive(CandidType, Deserialize)]
struct SnapshotIdArgs {
    canister_id: Principal,
}

/// A refusal, as the IC words it.
type Refusal = (RejectCode, String);

fn refusal(code: RejectCode, message: String) -> Refusal {
    (code, message)
}

/// The snapshot id's readable form in the IC's messages: `<canister>-<n>`.
fn show_id(id: &[u8]) -> String {
    match local_id(id) {
        Some((canister, n)) => format!("{canister}-{n}"),
        None => super::install::hex(id),
    }
}

/// The canister and local number an id names (8 bytes big-endian, then
/// the canister's id).
fn local_id(id: &[u8]) -> Option<(Principal, u64)> {
    if id.len() < 8 || id.len() > 8 + 29 {
        return None;
    }
    let (n, canister) = id.split_at(8);
    let canister = Principal::try_from_slice(canister).ok()?;
    Some((canister, u64::from_be_bytes(n.try_into().ok()?)))
}

use super::install::DOCS;

impl Canister {
    /// The snapshots' sizes together, as `canister_status` counts them.
    pub(super) fn snapshots_size(&self) -> u64 {
        self.snapshots.iter().map(Snapshot::total_size).sum()
    }

    /// Whether `caller` may list and read the snapshots.
    pub(super) fn may_read_snapshots(&self, caller: &Principal) -> bool {
        self.settings
            .may_read_snapshots(caller, &self.exec.env().controllers)
    }

    /// The index of the snapshot `id`, which must be this canister's.
    fn find(&self, id: &[u8]) -> Result<usize, Refusal> {
        let own = self.canister_id();
        let listed = "Use the `list_canister_snapshot` API to see which snapshots are present. See documentation";
        match local_id(id) {
            None => Err(bad_id(id)),
            Some((canister, _)) if canister != own => Err(refusal(
                RejectCode::CanisterReject,
                format!(
                    "IC0406: The snapshot {} does not belong to canister {own}.\n{listed}: {DOCS}#canister-snapshot-invalid-ownership",
                    show_id(id)
                ),
            )),
            Some(_) => self
                .snapshots
                .iter()
                .position(|snapshot| snapshot.id == id)
                .ok_or_else(|| {
                    refusal(
                        RejectCode::DestinationInvalid,
                        format!(
                            "IC0305: Could not find the snapshot ID {} for canister {own}.\n{listed}: {DOCS}#canister-snapshot-not-found",
                            show_id(id)
                        ),
                    )
                }),
        }
    }

    /// A new snapshot's id: the next local number, then the canister's id.
    fn new_snapshot_id(&mut self) -> Vec<u8> {
        let n = self.next_snapshot;
        self.next_snapshot += 1;
        let mut id = n.to_be_bytes().to_vec();
        id.extend_from_slice(self.canister_id().as_slice());
        id
    }

    /// Checks there is room for a new snapshot, `replace` (which must be
    /// this canister's) aside; returns its index.
    fn room(&self, replace: Option<&[u8]>) -> Result<Option<usize>, Refusal> {
        let replaced = replace.map(|id| self.find(id)).transpose()?;
        if replaced.is_none() && self.snapshots.len() >= MAX_SNAPSHOTS {
            return Err(refusal(
                RejectCode::CanisterReject,
                format!(
                    "IC0406: Canister {} has reached the maximum number of snapshots allowed: {MAX_SNAPSHOTS}.\nConsider deleting an unnecessary snapshot of the specified canister before creating a new one. See documentation: canister-snapshot-limit-exceeded",
                    self.canister_id()
                ),
            ));
        }
        Ok(replaced)
    }

    /// Keeps a new snapshot, in place of the one at `replaced`.
    fn keep_snapshot(&mut self, snapshot: Snapshot, replaced: Option<usize>) {
        if let Some(index) = replaced {
            self.snapshots.remove(index);
        }
        self.snapshots.push(snapshot);
    }

    /// `take_canister_snapshot`: the canister as it is between two
    /// messages; it need not be stopped (its outstanding calls are not in
    /// it). With `uninstall_code`, the code is uninstalled after.
    pub(super) fn take_snapshot(&mut self, caller: Principal, arg: &[u8]) -> Outcome {
        let TakeCanisterSnapshotArgs {
            canister_id,
            replace_snapshot,
            uninstall_code,
            ..
        } = management::decode("take_canister_snapshot", arg)?;
        management::this(self.canister_id(), canister_id)?;
        let replaced = self.room(replace_snapshot.as_deref())?;
        let Some(module) = self.module.clone() else {
            return Err(refusal(
                RejectCode::CanisterReject,
                format!(
                    "IC0406: Failed to create snapshot for empty canister {}:",
                    self.canister_id()
                ),
            ));
        };
        let env = self.exec.env();
        let snapshot = Snapshot {
            id: Vec::new(),
            taken_at: env.time_nanos,
            uploaded: false,
            module: Pieces::from_bytes(&module.bytes),
            heap: Pieces::from_bytes(&self.exec.heap()),
            stable: Pieces::from_bytes(env.stable.bytes()),
            globals: self
                .exec
                .global_values()
                .iter()
                .filter_map(global_value)
                .collect(),
            certified_data: env.certified_data.clone(),
            chunks: self.chunks.clone(),
            canister_version: env.version,
            global_timer: None,
            hook_status: None,
        };
        let snapshot = Snapshot {
            id: self.new_snapshot_id(),
            ..snapshot
        };
        let summary = snapshot.summary();
        self.keep_snapshot(snapshot, replaced);
        if uninstall_code == Some(true) {
            self.uninstall(caller)
                .map_err(|error| (RejectCode::CanisterError, error.to_string()))?;
        }
        management::encode(summary)
    }

    /// `list_canister_snapshots`, oldest first.
    pub(super) fn list_snapshots(&self, arg: &[u8]) -> Outcome {
        let SnapshotIdArgs { canister_id } = management::decode("list_canister_snapshots", arg)?;
        management::this(self.canister_id(), canister_id)?;
        let list: Vec<_> = self.snapshots.iter().map(Snapshot::summary).collect();
        management::encode(list)
    }

    /// `delete_canister_snapshot`.
    pub(super) fn delete_snapshot(&mut self, arg: &[u8]) -> Outcome {
        let DeleteCanisterSnapshotArgs {
            canister_id,
            snapshot_id,
        } = management::decode("delete_canister_snapshot", arg)?;
        management::this(self.canister_id(), canister_id)?;
        let index = self.find(&snapshot_id)?;
        self.snapshots.remove(index);
        management::encode(())
    }

    /// `read_canister_snapshot_metadata`.
    pub(super) fn read_snapshot_metadata(&self, arg: &[u8]) -> Outcome {
        let ReadCanisterSnapshotMetadataArgs {
            canister_id,
            snapshot_id,
        } = management::decode("read_canister_snapshot_metadata", arg)?;
        management::this(self.canister_id(), canister_id)?;
        let snapshot = &self.snapshots[self.find(&snapshot_id)?];
        management::encode(ReadCanisterSnapshotMetadataResult {
            source: Some(if snapshot.uploaded {
                SnapshotSource::MetadataUpload(candid::Reserved)
            } else {
                SnapshotSource::TakenFromCanister(candid::Reserved)
            }),
            taken_at_timestamp: snapshot.taken_at,
            wasm_module_size: snapshot.module.len(),
            globals: snapshot
                .globals
                .iter()
                .map(|value| Some(metadata_global(value)))
                .collect(),
            wasm_memory_size: snapshot.heap.len(),
            stable_memory_size: snapshot.stable.len(),
            wasm_chunk_store: snapshot
                .chunks
                .keys()
                .map(|hash| ChunkHash {
                    hash: hash.to_vec(),
                })
                .collect(),
            canister_version: snapshot.canister_version,
            certified_data: snapshot.certified_data.clone(),
            global_timer: snapshot.global_timer.map(|timer| match timer {
                Timer::Inactive => CanisterTimer::Inactive,
                Timer::Active(at) => CanisterTimer::Active(at),
            }),
            on_low_wasm_memory_hook_status: snapshot.hook_status.map(|status| match status {
                HookStatus::ConditionNotSatisfied => {
                    OnLowWasmMemoryHookStatus::ConditionNotSatisfied
                }
                HookStatus::Ready => OnLowWasmMemoryHookStatus::Ready,
                HookStatus::Executed => OnLowWasmMemoryHookStatus::Executed,
            }),
        })
    }

    /// `read_canister_snapshot_data`: a slice of the module, heap or stable
    /// memory (at most [`MAX_SLICE`] bytes, within it), or a chunk whole.
    pub(super) fn read_snapshot_data(&self, arg: &[u8]) -> Outcome {
        let ReadCanisterSnapshotDataArgs {
            canister_id,
            snapshot_id,
            kind,
        } = management::decode("read_canister_snapshot_data", arg)?;
        management::this(self.canister_id(), canister_id)?;
        let snapshot = &self.snapshots[self.find(&snapshot_id)?];
        let (pieces, offset, size) = match kind {
            SnapshotDataKind::WasmModule { offset, size } => (&snapshot.module, offset, size),
            SnapshotDataKind::WasmMemory { offset, size } => (&snapshot.heap, offset, size),
            SnapshotDataKind::StableMemory { offset, size } => (&snapshot.stable, offset, size),
            SnapshotDataKind::WasmChunk { hash } => {
                let Ok(hash) = <Hash>::try_from(hash.as_slice()) else {
                    return Err(super::install::chunk_store(format!(
                        "Bytes {hash:02x?} are not a valid WasmChunkHash."
                    )));
                };
                let Some(chunk) = snapshot.chunks.get(&hash) else {
                    return Err(super::install::chunk_store(format!(
                        "WasmChunkHash {hash:02x?} not found."
                    )));
                };
                return management::encode(ReadCanisterSnapshotDataResult {
                    chunk: chunk.to_vec(),
                });
            }
        };
        if size > MAX_SLICE {
            return Err(refusal(
                RejectCode::CanisterReject,
                format!("IC0408: Requested slice too large: {size} > {MAX_SLICE}"),
            ));
        }
        let chunk = pieces
            .read(offset, size)
            .ok_or_else(|| invalid_slice(offset, size))?;
        management::encode(ReadCanisterSnapshotDataResult { chunk })
    }

    /// `upload_canister_snapshot_metadata`: a new snapshot of the sizes
    /// declared, zero-filled until its data is uploaded, checked as the IC
    /// checks it.
    pub(super) fn upload_snapshot_metadata(&mut self, arg: &[u8]) -> Outcome {
        let UploadCanisterSnapshotMetadataArgs {
            canister_id,
            replace_snapshot,
            wasm_module_size,
            globals,
            wasm_memory_size,
            stable_memory_size,
            certified_data,
            global_timer,
            on_low_wasm_memory_hook_status,
        } = management::decode("upload_canister_snapshot_metadata", arg)?;
        management::this(self.canister_id(), canister_id)?;
        let invalid = |why: String| {
            refusal(
                RejectCode::CanisterReject,
                format!("IC0408: Snapshot Metadata contains invalid data: {why}"),
            )
        };
        let page = 65536;
        let max_stable = self.limits.max_stable_pages * page;
        // The IC's checks in its order, each named as it names them.
        let checks = [
            (wasm_module_size == 0, "WasmModuleEmpty"),
            (wasm_module_size > MAX_MODULE, "WasmModuleTooLarge"),
            (
                !wasm_memory_size.is_multiple_of(page),
                "WasmMemoryNotPageAligned",
            ),
            (wasm_memory_size > MAX_HEAP, "WasmMemoryTooLarge"),
            (
                !stable_memory_size.is_multiple_of(page),
                "StableMemoryNotPageAligned",
            ),
            (stable_memory_size > max_stable, "StableMemoryTooLarge"),
            (globals.len() > MAX_GLOBALS, "ExportedGlobalsTooLarge"),
            (
                certified_data.len() > MAX_CERTIFIED_DATA,
                "CertifiedDataTooLarge",
            ),
        ];
        if let Some((_, name)) = checks.iter().find(|(failed, _)| *failed) {
            return Err(invalid(name.to_string()));
        }
        let globals = globals
            .iter()
            .map(|global| {
                snapshot_global(global)
                    .ok_or_else(|| invalid(format!("a v128 global over 128 bits: {global:?}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let replaced = self.room(replace_snapshot.as_deref())?;
        let snapshot = Snapshot {
            id: self.new_snapshot_id(),
            taken_at: self.exec.env().time_nanos,
            uploaded: true,
            module: Pieces::zeroed(wasm_module_size),
            heap: Pieces::zeroed(wasm_memory_size),
            stable: Pieces::zeroed(stable_memory_size),
            globals,
            certified_data,
            chunks: BTreeMap::new(),
            canister_version: self.exec.env().version,
            global_timer: global_timer.map(|timer| match timer {
                CanisterTimer::Inactive => Timer::Inactive,
                CanisterTimer::Active(at) => Timer::Active(at),
            }),
            hook_status: on_low_wasm_memory_hook_status.map(|status| match status {
                OnLowWasmMemoryHookStatus::ConditionNotSatisfied => {
                    HookStatus::ConditionNotSatisfied
                }
                OnLowWasmMemoryHookStatus::Ready => HookStatus::Ready,
                OnLowWasmMemoryHookStatus::Executed => HookStatus::Executed,
            }),
        };
        let snapshot_id = snapshot.id.clone();
        self.keep_snapshot(snapshot, replaced);
        management::encode(UploadCanisterSnapshotMetadataResult { snapshot_id })
    }

    /// `upload_canister_snapshot_data`: bytes written into an uploaded
    /// snapshot, at an offset within it, or a chunk added to its store.
    pub(super) fn upload_snapshot_data(&mut self, arg: &[u8]) -> Outcome {
        use ic_management_canister_types::SnapshotDataOffset;
        let UploadDataArgs {
            canister_id,
            snapshot_id,
            kind,
            chunk,
        } = management::decode("upload_canister_snapshot_data", arg)?;
        management::this(self.canister_id(), canister_id)?;
        let index = self.find(&snapshot_id)?;
        let snapshot = &mut self.snapshots[index];
        if !snapshot.uploaded {
            return Err(refusal(
                RejectCode::CanisterReject,
                "IC0409: Only canister snapshots created by metadata upload can be mutated.".into(),
            ));
        }
        let (pieces, offset) = match kind {
            SnapshotDataOffset::WasmModule { offset } => (&mut snapshot.module, offset),
            SnapshotDataOffset::WasmMemory { offset } => (&mut snapshot.heap, offset),
            SnapshotDataOffset::StableMemory { offset } => (&mut snapshot.stable, offset),
            SnapshotDataOffset::WasmChunk => {
                super::install::add_chunk(&mut snapshot.chunks, chunk)?;
                return management::encode(());
            }
        };
        let size = chunk.len() as u64;
        pieces
            .write(offset, &chunk)
            .ok_or_else(|| invalid_slice(offset, size))?;
        management::encode(())
    }

    /// `load_canister_snapshot`: the canister becomes the snapshot: its
    /// module, heap, globals, stable memory, certified data and chunk
    /// store; one more version, and the history says which snapshot. Its
    /// status, settings, log and other snapshots stay. A snapshot that does
    /// not fit the module it holds is refused, changing nothing.
    pub(super) fn load_snapshot(&mut self, caller: Principal, arg: &[u8]) -> Outcome {
        let LoadCanisterSnapshotArgs {
            canister_id,
            snapshot_id,
            ..
        } = management::decode("load_canister_snapshot", arg)?;
        let own = self.canister_id();
        management::this(own, canister_id)?;
        if let Some((owner, _)) = local_id(&snapshot_id).filter(|(owner, _)| *owner != own) {
            // A snapshot of another canister: there is none here.
            return Err(refusal(
                RejectCode::DestinationInvalid,
                format!("IC0301: Canister {owner} not found.\nCheck the ICP dashboard to ensure the canister exists. See documentation: {DOCS}#canister-not-found"),
            ));
        }
        let snapshot = self.snapshots[self.find(&snapshot_id)?].clone();
        let module = snapshot.module.to_vec();
        let inconsistent =
            |why: String| refusal(RejectCode::CanisterReject, format!("IC0408: {why}"));
        let old = self.exec.loaded();
        if let Err(error) = self.exec.load(&module) {
            return Err(refusal(
                RejectCode::CanisterError,
                format!("IC0505: Error from Canister {own}: Canister's Wasm module is not valid: {error}."),
            ));
        }
        let globals: Vec<Val> = snapshot.globals.iter().map(val).collect();
        let fitted = self
            .exec
            .set_heap(&snapshot.heap.to_vec())
            .and_then(|()| self.exec.set_globals(&globals));
        if let Err(why) = fitted {
            self.exec.put_back(old);
            return Err(inconsistent(why));
        }
        self.exec.resync_heap();
        let env = self.exec.env_mut();
        env.stable = env.stable.replacement(snapshot.stable.to_vec());
        env.certified_data = snapshot.certified_data.clone();
        env.version += 1;
        let (now, version) = (env.time_nanos, env.version);
        self.chunks = snapshot.chunks.clone();
        self.metadata = crate::module::metadata(&module);
        self.module = Some(Installed::new(module.into()));
        self.history.push(Change::load_snapshot(
            now,
            version,
            caller,
            &snapshot.id,
            snapshot.canister_version,
            snapshot.taken_at,
            snapshot.uploaded,
        ));
        management::encode(())
    }
}

fn invalid_slice(offset: u64, size: u64) -> Refusal {
    refusal(
        RejectCode::CanisterReject,
        format!("IC0408: Invalid subslice into wasm module / main memory / stable memory: offset: {offset}, size: {size}"),
    )
}

/// The IC's refusal of a snapshot id that is none (too short, too long,
/// or not ending in a canister id).
fn bad_id(id: &[u8]) -> Refusal {
    let why = if id.len() < 8 {
        format!(
            "InvalidLength(\"Invalid snapshot ID length: provided {}, minumum length expected 37.\")",
            id.len()
        )
    } else if id.len() > 37 {
        format!(
            "InvalidLength(\"Invalid snapshot ID length: provided {}, maximum length expected 37.\")",
            id.len()
        )
    } else {
        "InvalidFormat(\"Failed to create a Snapshot ID. Input could not be parsed into a Snapshot ID.\")".into()
    };
    refusal(
        RejectCode::CanisterReject,
        format!("IC0408: Payload deserialization error: {why}"),
    )
}

/// A global's value as a snapshot keeps it.
fn global_value(value: &Val) -> Option<GlobalValue> {
    Some(match value {
        Val::I32(v) => GlobalValue::I32(*v),
        Val::I64(v) => GlobalValue::I64(*v),
        Val::F32(v) => GlobalValue::F32(v.to_bits()),
        Val::F64(v) => GlobalValue::F64(v.to_bits()),
        Val::V128(v) => GlobalValue::V128(v.as_u128()),
        _ => return None,
    })
}

fn val(value: &GlobalValue) -> Val {
    match *value {
        GlobalValue::I32(v) => Val::I32(v),
        GlobalValue::I64(v) => Val::I64(v),
        GlobalValue::F32(bits) => Val::F32(wasmi::F32::from_bits(bits)),
        GlobalValue::F64(bits) => Val::F64(wasmi::F64::from_bits(bits)),
        GlobalValue::V128(v) => Val::V128(wasmi::V128::from(v)),
    }
}

fn metadata_global(value: &GlobalValue) -> SnapshotMetadataGlobal {
    match *value {
        GlobalValue::I32(v) => SnapshotMetadataGlobal::I32(v),
        GlobalValue::I64(v) => SnapshotMetadataGlobal::I64(v),
        GlobalValue::F32(bits) => SnapshotMetadataGlobal::F32(f32::from_bits(bits)),
        GlobalValue::F64(bits) => SnapshotMetadataGlobal::F64(f64::from_bits(bits)),
        GlobalValue::V128(v) => SnapshotMetadataGlobal::V128(Nat::from(v)),
    }
}

fn snapshot_global(global: &SnapshotMetadataGlobal) -> Option<GlobalValue> {
    Some(match global {
        SnapshotMetadataGlobal::I32(v) => GlobalValue::I32(*v),
        SnapshotMetadataGlobal::I64(v) => GlobalValue::I64(*v),
        SnapshotMetadataGlobal::F32(v) => GlobalValue::F32(v.to_bits()),
        SnapshotMetadataGlobal::F64(v) => GlobalValue::F64(v.to_bits()),
        SnapshotMetadataGlobal::V128(v) => GlobalValue::V128(u128::try_from(&v.0).ok()?),
    })
}

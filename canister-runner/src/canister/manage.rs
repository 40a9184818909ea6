//! The management canister's methods that change the canister, as its
//! controllers call them: `update_settings`, `stop_canister` and
//! `start_canister`, with the IC's rules (validation before any change, the
//! canister version, the history), and the record of what they (and
//! `install`'s methods) change, for whoever keeps the canister between
//! runs.

use super::snapshot::{Snapshot, SnapshotRecord};
use super::{Canister, Hash};
use crate::call::RejectCode;
use crate::management::{self, CanisterIdArg, Change, Outcome};
use crate::settings::Settings;
use candid::{Nat, Principal};
use ic_management_canister_types::{
    CanisterSettings, CanisterStatusType, LogVisibility, SnapshotVisibility, StatusVisibility,
    UpdateSettingsArgs,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What the IC keeps of a canister besides its memories: who controls it,
/// its settings, whether it runs, its version and its history, and, by
/// their SHA-256, its module and the chunks of its chunk store (whose
/// bytes [`Canister::blobs`] gives). [`Canister::record`] gives it,
/// [`Canister::restore_record`] puts it back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CanisterRecord {
    pub controllers: Vec<Principal>,
    pub settings: Settings,
    pub status: CanisterStatusType,
    pub version: u64,
    pub history: Vec<Change>,
    /// The module installed; `None` once uninstalled.
    pub module: Option<Hash>,
    /// The chunk store.
    pub chunks: Vec<Hash>,
    /// The snapshots, oldest first, and the number the next one gets.
    pub snapshots: Vec<SnapshotRecord>,
    pub next_snapshot: u64,
}

impl CanisterRecord {
    /// The contents it names by their SHA-256: its module, its chunks,
    /// its snapshots' pieces and chunks; each once.
    pub fn blobs(&self) -> Vec<Hash> {
        let mut hashes: Vec<Hash> = self
            .module
            .iter()
            .chain(&self.chunks)
            .chain(self.snapshots.iter().flat_map(SnapshotRecord::blobs))
            .copied()
            .collect();
        hashes.sort_unstable();
        hashes.dedup();
        hashes
    }
}

/// At most this many controllers, and viewers in each visibility setting.
const MAX_PRINCIPALS: usize = 10;
/// `wasm_memory_limit` at most 2^48 bytes.
const MAX_WASM_MEMORY_LIMIT: u64 = 1 << 48;
/// Environment variables: how many, and how long a name or a value.
const MAX_ENVIRONMENT_VARIABLES: usize = 20;
const MAX_ENVIRONMENT_TEXT: usize = 128;

/// Candid `()`, what the methods reply.
const EMPTY: &[u8] = b"DIDL\x00\x00";

impl Canister {
    /// Running, stopping or stopped.
    pub fn status(&self) -> CanisterStatusType {
        self.status
    }

    /// The record of what the management canister changes.
    pub fn record(&self) -> CanisterRecord {
        CanisterRecord {
            controllers: self.exec.env().controllers.clone(),
            settings: self.settings.clone(),
            status: self.status,
            version: self.exec.env().version,
            history: self.history.clone(),
            module: self.module_hash(),
            chunks: self.chunks.keys().copied().collect(),
            snapshots: self.snapshots.iter().map(|s| s.record()).collect(),
            next_snapshot: self.next_snapshot,
        }
    }

    /// The contents the record names, each with its SHA-256 (some more than
    /// once: a piece two snapshots share).
    pub fn blobs(&self) -> Vec<(Hash, Arc<[u8]>)> {
        let module = self
            .module
            .iter()
            .map(|module| (module.hash, module.bytes.clone()));
        let chunks = self
            .chunks
            .iter()
            .map(|(hash, bytes)| (*hash, bytes.clone()));
        module
            .chain(chunks)
            .chain(self.snapshots.iter().flat_map(|s| s.blobs()))
            .collect()
    }

    /// Puts back a record [`Canister::record`] gave: the canister is again
    /// controlled, set, running or stopped, versioned and with the history
    /// and chunk store it had, each chunk's bytes from `blob`. The canister
    /// must run the module the record names (or be empty if it names none):
    /// refused otherwise, changing nothing.
    pub fn restore_record(
        &mut self,
        record: CanisterRecord,
        blob: &dyn Fn(&Hash) -> Result<Vec<u8>, String>,
    ) -> Result<(), String> {
        let CanisterRecord {
            controllers,
            settings,
            status,
            version,
            history,
            module,
            chunks,
            snapshots,
            next_snapshot,
        } = record;
        if module != self.module_hash() {
            let name = |hash: Option<Hash>| {
                hash.map_or("none (uninstalled)".to_string(), |hash| {
                    format!("the module of SHA-256 {}", super::install::hex(&hash))
                })
            };
            return Err(format!(
                "the canister's record names {}, but the canister runs {}",
                name(module),
                name(self.module_hash())
            ));
        }
        let chunks = chunks
            .iter()
            .map(|hash| Ok((*hash, Arc::<[u8]>::from(blob(hash)?))))
            .collect::<Result<_, String>>()?;
        let snapshots = snapshots
            .iter()
            .map(|snapshot| Snapshot::restore(snapshot, blob))
            .collect::<Result<_, String>>()?;
        self.chunks = chunks;
        self.snapshots = snapshots;
        self.next_snapshot = next_snapshot;
        let env = self.exec.env_mut();
        env.controllers = controllers;
        env.version = version;
        self.settings = settings;
        self.status = status;
        self.history = history;
        Ok(())
    }

    /// `update_settings` by a controller: every setting checked first, as
    /// the IC checks them, so a refused request changes nothing; then the
    /// settings given are set, the canister version goes up by one, and a
    /// change of controllers enters the history.
    pub(super) fn update_settings(&mut self, caller: Principal, arg: &[u8]) -> Outcome {
        let UpdateSettingsArgs {
            canister_id,
            settings,
            ..
        } = management::decode("update_settings", arg)?;
        management::this(self.canister_id(), canister_id)?;
        check(&settings)?;
        let mut next = self.settings.clone();
        let CanisterSettings {
            controllers,
            compute_allocation,
            memory_allocation,
            freezing_threshold,
            reserved_cycles_limit,
            minimum_incoming_canister_call_cycles,
            log_visibility,
            log_memory_limit,
            snapshot_visibility,
            status_visibility,
            wasm_memory_limit,
            wasm_memory_threshold,
            environment_variables,
        } = settings;
        let set = |slot: &mut Nat, value: Option<Nat>| {
            if let Some(value) = value {
                *slot = value;
            }
        };
        set(&mut next.compute_allocation, compute_allocation);
        set(&mut next.memory_allocation, memory_allocation);
        set(&mut next.freezing_threshold, freezing_threshold);
        set(&mut next.reserved_cycles_limit, reserved_cycles_limit);
        set(
            &mut next.minimum_incoming_canister_call_cycles,
            minimum_incoming_canister_call_cycles,
        );
        set(&mut next.log_memory_limit, log_memory_limit);
        set(&mut next.wasm_memory_limit, wasm_memory_limit);
        set(&mut next.wasm_memory_threshold, wasm_memory_threshold);
        if let Some(visibility) = log_visibility {
            next.log_visibility = visibility;
        }
        if let Some(visibility) = snapshot_visibility {
            next.snapshot_visibility = visibility;
        }
        if let Some(visibility) = status_visibility {
            next.status_visibility = visibility;
        }
        if let Some(variables) = environment_variables {
            next.environment_variables = variables;
        }
        self.settings = next;
        let now = self.exec.env().time_nanos;
        let env = self.exec.env_mut();
        env.version += 1;
        let version = env.version;
        if let Some(controllers) = controllers {
            env.controllers = controllers;
            let change = Change::controllers_change(now, version, caller, &env.controllers);
            self.history.push(change);
        }
        Ok(EMPTY.to_vec())
    }

    /// `stop_canister`: the canister stops taking calls. It has no call
    /// open between messages (the runner runs each call to its end), so it
    /// is stopped at once: the request and the stop each count a version,
    /// as on the IC; stopping a stopped canister counts one and succeeds.
    pub(super) fn stop(&mut self, arg: &[u8]) -> Outcome {
        let CanisterIdArg { canister_id } = management::decode("stop_canister", arg)?;
        management::this(self.canister_id(), canister_id)?;
        self.exec.env_mut().version += 1;
        if self.status != CanisterStatusType::Stopped {
            self.status = CanisterStatusType::Stopped;
            self.exec.env_mut().version += 1;
        }
        Ok(EMPTY.to_vec())
    }

    /// `start_canister`: the canister takes calls again (one more version,
    /// running or not).
    pub(super) fn start(&mut self, arg: &[u8]) -> Outcome {
        let CanisterIdArg { canister_id } = management::decode("start_canister", arg)?;
        management::this(self.canister_id(), canister_id)?;
        self.exec.env_mut().version += 1;
        self.status = CanisterStatusType::Running;
        Ok(EMPTY.to_vec())
    }

    /// Why a call to the canister is refused for its status, as the IC
    /// refuses it: `None` while it runs.
    pub(super) fn refused_for_status(&self, query: bool) -> Option<(RejectCode, String)> {
        let id = self.canister_id();
        match self.status {
            CanisterStatusType::Running => None,
            CanisterStatusType::Stopped if query => Some((
                RejectCode::CanisterError,
                format!(
                    "IC0508: Canister {id} is stopped and therefore does not have a CallContextManager"
                ),
            )),
            CanisterStatusType::Stopped => Some((
                RejectCode::CanisterError,
                format!("IC0508: Canister {id} is stopped"),
            )),
            // The IC still runs queries while a canister stops.
            CanisterStatusType::Stopping if query => None,
            CanisterStatusType::Stopping => Some((
                RejectCode::CanisterError,
                format!("IC0509: Canister {id} is stopping"),
            )),
        }
    }
}

/// `value`, if it is over `max`.
fn over(value: &Option<Nat>, max: u128) -> Option<&Nat> {
    let max = Nat::from(max);
    value.as_ref().filter(|n| **n > max)
}

/// The IC's checks of `update_settings`' settings, each with its words.
fn check(settings: &CanisterSettings) -> Result<(), (RejectCode, String)> {
    let too_many = || {
        (
            RejectCode::CanisterReject,
            format!(
                "IC0408: Error decoding candid: Deserialize error: The number of elements exceeds maximum allowed {MAX_PRINCIPALS}"
            ),
        )
    };
    let invalid = |message: String| (RejectCode::CanisterError, format!("IC0504: {message}"));
    if settings
        .controllers
        .as_ref()
        .is_some_and(|controllers| controllers.len() > MAX_PRINCIPALS)
    {
        return Err(too_many());
    }
    let viewers = [
        match &settings.log_visibility {
            Some(LogVisibility::AllowedViewers(viewers)) => viewers.len(),
            _ => 0,
        },
        match &settings.snapshot_visibility {
            Some(SnapshotVisibility::AllowedViewers(viewers)) => viewers.len(),
            _ => 0,
        },
        match &settings.status_visibility {
            Some(StatusVisibility::AllowedViewers(viewers)) => viewers.len(),
            _ => 0,
        },
    ];
    if viewers.iter().any(|&n| n > MAX_PRINCIPALS) {
        return Err(too_many());
    }
    if let Some(n) = over(&settings.compute_allocation, 100) {
        return Err(invalid(format!(
            "ComputeAllocation expected to be in the range [0..100], got {n}"
        )));
    }
    if let Some(n) = over(&settings.memory_allocation, u128::from(u64::MAX)) {
        return Err(invalid(format!(
            "MemoryAllocation expected to be in the range [0..2^64-1], got {n}"
        )));
    }
    if let Some(n) = over(&settings.freezing_threshold, u128::from(u64::MAX)) {
        return Err(invalid(format!(
            "Freezing threshold expected to be in the range of [0..2^64-1], got {n}"
        )));
    }
    if let Some(n) = over(&settings.reserved_cycles_limit, u128::MAX) {
        return Err(invalid(format!(
            "Reserved cycles limit expected to be in the range of [0..2^128-1], got {n}"
        )));
    }
    // The IC's words say 2^64-1 where it checks 2^48.
    if let Some(n) = over(
        &settings.wasm_memory_limit,
        u128::from(MAX_WASM_MEMORY_LIMIT),
    ) {
        return Err(invalid(format!(
            "Wasm memory limit expected to be in the range of [0..2^64-1], got {n}"
        )));
    }
    if let Some(n) = over(&settings.wasm_memory_threshold, u128::from(u64::MAX)) {
        return Err(invalid(format!(
            "Wasm memory threshold expected to be in the range of [0..2^64-1], got {n}"
        )));
    }
    if let Some(variables) = &settings.environment_variables {
        let payload = |message: String| (RejectCode::CanisterReject, format!("IC0408: {message}"));
        if variables.len() > MAX_ENVIRONMENT_VARIABLES {
            return Err(payload(format!(
                "Too many environment variables: {} (max: {MAX_ENVIRONMENT_VARIABLES})",
                variables.len()
            )));
        }
        for variable in variables {
            if variable.name.len() > MAX_ENVIRONMENT_TEXT {
                return Err(payload(format!(
                    "Environment variable name \"{}\" exceeds the maximum allowed length of {MAX_ENVIRONMENT_TEXT}.",
                    variable.name
                )));
            }
            if variable.value.len() > MAX_ENVIRONMENT_TEXT {
                return Err(payload(format!(
                    "Environment variable value \"{}\" exceeds the maximum allowed length of {MAX_ENVIRONMENT_TEXT}.",
                    variable.value
                )));
            }
        }
        let mut names: Vec<&str> = variables.iter().map(|v| v.name.as_str()).collect();
        names.sort_unstable();
        if names.windows(2).any(|pair| pair[0] == pair[1]) {
            return Err(payload(
                "Duplicate environment variables are not allowed".to_string(),
            ));
        }
    }
    Ok(())
}

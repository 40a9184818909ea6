//! The management canister (`aaaaa-aa`), for the canister itself: the
//! methods a canister asks about itself, with the replies of the IC's
//! interface (`ic.did` of the interface specification).

use crate::call::RejectCode;
use crate::settings::Settings;
use candid::{CandidType, Nat, Principal};
use ic_management_canister_types::{
    CanisterStatusResult, CanisterStatusType, DefiniteCanisterSettings, MemoryMetrics, QueryStats,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What the management canister knows of the one canister.
pub struct View<'a> {
    pub canister_id: Principal,
    pub controllers: &'a [Principal],
    /// `None` once uninstalled.
    pub module_hash: Option<[u8; 32]>,
    pub status: CanisterStatusType,
    /// The canister version (`ic0.canister_version`).
    pub version: u64,
    pub settings: &'a Settings,
    pub memory: Memory,
    pub history: &'a [Change],
}

/// The canister's memory by kind, in bytes, as `canister_status` reports it
/// (`memory_metrics`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Memory {
    /// The wasm (heap) memory.
    pub wasm: u64,
    pub stable: u64,
    /// The module's globals, 8 bytes each.
    pub globals: u64,
    /// The installed module, as given (gzipped or not).
    pub binary: u64,
    /// The `icp:public` and `icp:private` sections the IC keeps, their names
    /// and contents.
    pub custom_sections: u64,
    /// The history `canister_info` reports, as encoded.
    pub history: u64,
    /// The canister's log, its records' contents.
    pub log: u64,
    /// The chunk store: 1 MiB a chunk, as the IC counts it.
    pub chunk_store: u64,
    /// The snapshots, each its total size.
    pub snapshots: u64,
}

impl Memory {
    /// Everything the canister uses: `memory_size`.
    pub fn total(&self) -> u64 {
        self.wasm
            + self.stable
            + self.globals
            + self.binary
            + self.custom_sections
            + self.history
            + self.log
            + self.chunk_store
            + self.snapshots
    }
}

/// `raw_rand`'s source: reproducible from its seed.
#[derive(Clone, Debug)]
pub struct Randomness {
    seed: u64,
    drawn: u64,
}

impl Randomness {
    pub fn new(seed: u64) -> Self {
        Randomness { seed, drawn: 0 }
    }

    /// The next 32 bytes: SHA-256 of the seed and how many were drawn before.
    pub fn next(&mut self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(b"canister-runner raw_rand");
        hasher.update(self.seed.to_le_bytes());
        hasher.update(self.drawn.to_le_bytes());
        self.drawn += 1;
        hasher.finalize().into()
    }
}

/// How a module came to be installed.
#[allow(non_camel_case_types)]
#[derive(CandidType, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    install,
    reinstall,
    upgrade,
}

#[allow(non_camel_case_types)]
#[derive(CandidType, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum ChangeOrigin {
    from_user { user_id: Principal },
}

#[allow(non_camel_case_types)]
#[derive(CandidType, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum ChangeDetails {
    creation {
        controllers: Vec<Principal>,
    },
    code_uninstall,
    code_deployment {
        mode: Mode,
        module_hash: Vec<u8>,
    },
    controllers_change {
        controllers: Vec<Principal>,
    },
    load_snapshot {
        from_canister_id: Option<Principal>,
        #[serde(with = "serde_bytes")]
        snapshot_id: Vec<u8>,
        canister_version: u64,
        taken_at_timestamp: u64,
        source: SnapshotSource,
    },
}

/// Where a loaded snapshot came from (`reserved` payloads on the IC: any
/// value decodes as one).
#[allow(non_camel_case_types)]
#[derive(CandidType, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum SnapshotSource {
    taken_from_canister,
    metadata_upload,
}

/// One entry of the canister's history, as `canister_info` reports it.
#[derive(CandidType, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    timestamp_nanos: u64,
    canister_version: u64,
    origin: ChangeOrigin,
    details: ChangeDetails,
}

impl Change {
    pub fn creation(time: u64, user: Principal, controllers: &[Principal]) -> Self {
        Change {
            timestamp_nanos: time,
            canister_version: 0,
            origin: ChangeOrigin::from_user { user_id: user },
            details: ChangeDetails::creation {
                controllers: controllers.to_vec(),
            },
        }
    }

    pub fn deployment(
        time: u64,
        version: u64,
        user: Principal,
        mode: Mode,
        hash: [u8; 32],
    ) -> Self {
        Change {
            timestamp_nanos: time,
            canister_version: version,
            origin: ChangeOrigin::from_user { user_id: user },
            details: ChangeDetails::code_deployment {
                mode,
                module_hash: hash.to_vec(),
            },
        }
    }

    /// `uninstall_code` took the module off.
    pub fn uninstall(time: u64, version: u64, user: Principal) -> Self {
        Change {
            timestamp_nanos: time,
            canister_version: version,
            origin: ChangeOrigin::from_user { user_id: user },
            details: ChangeDetails::code_uninstall,
        }
    }

    /// `load_canister_snapshot` loaded the canister's own snapshot `id`,
    /// taken at `taken_at` from the canister at `snapshot_version` (or
    /// `uploaded`).
    pub fn load_snapshot(
        time: u64,
        version: u64,
        user: Principal,
        id: &[u8],
        snapshot_version: u64,
        taken_at: u64,
        uploaded: bool,
    ) -> Self {
        Change {
            timestamp_nanos: time,
            canister_version: version,
            origin: ChangeOrigin::from_user { user_id: user },
            details: ChangeDetails::load_snapshot {
                from_canister_id: None,
                snapshot_id: id.to_vec(),
                canister_version: snapshot_version,
                taken_at_timestamp: taken_at,
                source: if uploaded {
                    SnapshotSource::metadata_upload
                } else {
                    SnapshotSource::taken_from_canister
                },
            },
        }
    }

    /// `update_settings` set the controllers.
    pub fn controllers_change(
        time: u64,
        version: u64,
        user: Principal,
        controllers: &[Principal],
    ) -> Self {
        Change {
            timestamp_nanos: time,
            canister_version: version,
            origin: ChangeOrigin::from_user { user_id: user },
            details: ChangeDetails::controllers_change {
                controllers: controllers.to_vec(),
            },
        }
    }
}

#[derive(CandidType, Clone, Debug)]
struct CanisterInfoResult {
    total_num_changes: u64,
    recent_changes: Vec<Change>,
    module_hash: Option<Vec<u8>>,
    controllers: Vec<Principal>,
}

#[derive(CandidType, Deserialize)]
pub struct CanisterIdArg {
    pub canister_id: Principal,
}

#[derive(CandidType, Deserialize)]
struct CanisterInfoArg {
    canister_id: Principal,
    num_requested_changes: Option<u64>,
}

pub type Outcome = Result<Vec<u8>, (RejectCode, String)>;

pub fn encode(value: impl CandidType) -> Outcome {
    candid::encode_one(value).map_err(|error| (RejectCode::CanisterError, error.to_string()))
}

/// What decoding an argument may cost, as the IC bounds it: the values
/// it skips (the IC's own quota), and those it decodes: a blob costs its
/// length, so an argument as large as an ingress message (a module, a
/// chunk, a snapshot's slice) fits, and a deep or wide one does not.
fn decoder_config() -> candid::de::DecoderConfig {
    let mut config = candid::de::DecoderConfig::new();
    config.set_skipping_quota(10_000);
    config.set_decoding_quota(8_000_000);
    config.set_full_error_message(false);
    config
}

pub fn decode<T: for<'de> Deserialize<'de> + CandidType>(
    method: &str,
    arg: &[u8],
) -> Result<T, (RejectCode, String)> {
    candid::utils::decode_one_with_config(arg, &decoder_config()).map_err(|error| {
        (
            RejectCode::CanisterReject,
            format!(
                "IC0408: Error decoding candid for the management canister's {method}: {error:#}"
            ),
        )
    })
}

/// The IC's refusal of a user's ingress message to a method only the
/// canister's controllers may call (the ingress filter's words).
pub fn not_a_controller_ingress(canister_id: Principal, method: &str) -> (RejectCode, String) {
    (
        RejectCode::CanisterError,
        format!("IC0512: Only controllers of canister {canister_id} can call ic00 method {method}"),
    )
}

/// The IC's refusal of `caller`, who does not control the canister.
pub fn not_a_controller(
    view_controllers: &[Principal],
    canister_id: Principal,
    caller: Principal,
) -> (RejectCode, String) {
    (
        RejectCode::CanisterError,
        format!(
            "IC0512: Only the controllers of the canister {canister_id} can control it.\nCanister's controllers: {}\nSender's ID: {caller}",
            view_controllers
                .iter()
                .map(Principal::to_text)
                .collect::<Vec<_>>()
                .join(" ")
        ),
    )
}

/// The only canister there is: any other id is not found.
pub fn this(own: Principal, id: Principal) -> Result<(), (RejectCode, String)> {
    if id == own {
        Ok(())
    } else {
        Err((
            RejectCode::DestinationInvalid,
            format!("Canister {id} not found"),
        ))
    }
}

/// The management canister's answer to `caller` calling `method(arg)`.
pub fn call(
    view: &View,
    randomness: &mut Randomness,
    caller: Principal,
    method: &str,
    arg: &[u8],
) -> Outcome {
    match method {
        "raw_rand" => encode(randomness.next().to_vec()),
        "canister_status" => {
            let CanisterIdArg { canister_id } = decode(method, arg)?;
            this(view.canister_id, canister_id)?;
            if !view
                .settings
                .may_read_status(&caller, &view.canister_id, view.controllers)
            {
                return Err(not_a_controller(view.controllers, canister_id, caller));
            }
            encode(status(view))
        }
        "canister_info" => {
            let CanisterInfoArg {
                canister_id,
                num_requested_changes,
            } = decode(method, arg)?;
            this(view.canister_id, canister_id)?;
            let wanted = num_requested_changes.unwrap_or(0).min(20) as usize;
            let skip = view.history.len().saturating_sub(wanted);
            encode(CanisterInfoResult {
                total_num_changes: view.history.len() as u64,
                recent_changes: view.history[skip..].to_vec(),
                module_hash: view.module_hash.map(|hash| hash.to_vec()),
                controllers: view.controllers.to_vec(),
            })
        }
        other => Err((
            RejectCode::DestinationInvalid,
            format!("the embedded runner's management canister has no method `{other}` (it answers raw_rand, canister_status and canister_info)"),
        )),
    }
}

/// `canister_status`'s record, as the IC's current interface has it (older
/// decoders skip the fields they do not know). The runner charges no
/// cycles: the balance is the fixed one `ic0.canister_cycle_balance`
/// reports, nothing is burned or reserved, and queries are not counted.
fn status(view: &View) -> CanisterStatusResult {
    let nat = Nat::from;
    let settings = view.settings.clone();
    let memory = view.memory;
    CanisterStatusResult {
        status: view.status,
        ready_for_migration: view.status == CanisterStatusType::Stopped,
        version: view.version,
        settings: DefiniteCanisterSettings {
            controllers: view.controllers.to_vec(),
            compute_allocation: settings.compute_allocation,
            memory_allocation: settings.memory_allocation,
            freezing_threshold: settings.freezing_threshold,
            reserved_cycles_limit: settings.reserved_cycles_limit,
            minimum_incoming_canister_call_cycles: settings.minimum_incoming_canister_call_cycles,
            log_visibility: settings.log_visibility,
            log_memory_limit: settings.log_memory_limit,
            snapshot_visibility: settings.snapshot_visibility,
            status_visibility: settings.status_visibility,
            wasm_memory_limit: settings.wasm_memory_limit,
            wasm_memory_threshold: settings.wasm_memory_threshold,
            environment_variables: settings.environment_variables,
        },
        module_hash: view.module_hash.map(|hash| hash.to_vec()),
        memory_size: nat(memory.total()),
        memory_metrics: MemoryMetrics {
            wasm_memory_size: nat(memory.wasm),
            stable_memory_size: nat(memory.stable),
            global_memory_size: nat(memory.globals),
            wasm_binary_size: nat(memory.binary),
            custom_sections_size: nat(memory.custom_sections),
            canister_history_size: nat(memory.history),
            wasm_chunk_store_size: nat(memory.chunk_store),
            snapshots_size: nat(memory.snapshots),
            log_memory_store_size: nat(memory.log),
        },
        cycles: Nat::from(crate::host::CYCLE_BALANCE),
        reserved_cycles: nat(0u64),
        idle_cycles_burned_per_day: nat(0u64),
        query_stats: QueryStats {
            num_calls_total: nat(0u64),
            num_instructions_total: nat(0u64),
            request_payload_bytes_total: nat(0u64),
            response_payload_bytes_total: nat(0u64),
        },
    }
}

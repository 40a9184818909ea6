//! The management canister (`aaaaa-aa`), for the canister itself: the
//! methods a canister asks about itself, with the replies of the IC's
//! interface (`ic.did` of the interface specification).

use crate::call::RejectCode;
use candid::{CandidType, Deserialize, Nat, Principal};
use sha2::{Digest, Sha256};

/// What the management canister knows of the one canister.
pub struct View<'a> {
    pub canister_id: Principal,
    pub controllers: &'a [Principal],
    pub module_hash: [u8; 32],
    pub stable_bytes: u64,
    pub heap_bytes: u64,
    pub history: &'a [Change],
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

#[allow(non_camel_case_types)]
#[derive(CandidType, Clone, Debug)]
enum Status {
    running,
}

#[allow(non_camel_case_types)]
#[derive(CandidType, Clone, Debug)]
enum LogVisibility {
    controllers,
}

#[derive(CandidType, Clone, Debug)]
struct DefiniteCanisterSettings {
    controllers: Vec<Principal>,
    compute_allocation: Nat,
    memory_allocation: Nat,
    freezing_threshold: Nat,
    reserved_cycles_limit: Nat,
    log_visibility: LogVisibility,
    wasm_memory_limit: Nat,
    wasm_memory_threshold: Nat,
}

#[derive(CandidType, Clone, Debug)]
struct MemoryMetrics {
    wasm_memory_size: Nat,
    stable_memory_size: Nat,
    global_memory_size: Nat,
    wasm_binary_size: Nat,
    custom_sections_size: Nat,
    canister_history_size: Nat,
    wasm_chunk_store_size: Nat,
    snapshots_size: Nat,
}

#[derive(CandidType, Clone, Debug)]
struct QueryStats {
    num_calls_total: Nat,
    num_instructions_total: Nat,
    request_payload_bytes_total: Nat,
    response_payload_bytes_total: Nat,
}

#[derive(CandidType, Clone, Debug)]
struct CanisterStatusResult {
    status: Status,
    settings: DefiniteCanisterSettings,
    module_hash: Option<Vec<u8>>,
    memory_size: Nat,
    memory_metrics: MemoryMetrics,
    cycles: Nat,
    reserved_cycles: Nat,
    idle_cycles_burned_per_day: Nat,
    query_stats: QueryStats,
}

/// How a module came to be installed.
#[allow(non_camel_case_types)]
#[derive(CandidType, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    install,
    upgrade,
}

#[allow(non_camel_case_types)]
#[derive(CandidType, Clone, Debug)]
enum ChangeOrigin {
    from_user { user_id: Principal },
}

#[allow(non_camel_case_types)]
#[derive(CandidType, Clone, Debug)]
enum ChangeDetails {
    creation { controllers: Vec<Principal> },
    code_deployment { mode: Mode, module_hash: Vec<u8> },
}

/// One entry of the canister's history, as `canister_info` reports it.
#[derive(CandidType, Clone, Debug)]
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
}

#[derive(CandidType, Clone, Debug)]
struct CanisterInfoResult {
    total_num_changes: u64,
    recent_changes: Vec<Change>,
    module_hash: Option<Vec<u8>>,
    controllers: Vec<Principal>,
}

#[derive(CandidType, Deserialize)]
struct CanisterIdArg {
    canister_id: Principal,
}

#[derive(CandidType, Deserialize)]
struct CanisterInfoArg {
    canister_id: Principal,
    num_requested_changes: Option<u64>,
}

type Outcome = Result<Vec<u8>, (RejectCode, String)>;

fn encode(value: impl CandidType) -> Outcome {
    candid::encode_one(value).map_err(|error| (RejectCode::CanisterError, error.to_string()))
}

/// What decoding an argument may cost, as the IC bounds it: the values
/// it skips (the IC's own quota), and those it decodes.
fn decoder_config() -> candid::de::DecoderConfig {
    let mut config = candid::de::DecoderConfig::new();
    config.set_skipping_quota(10_000);
    config.set_decoding_quota(1_000_000);
    config.set_full_error_message(false);
    config
}

fn decode<T: for<'de> Deserialize<'de> + CandidType>(
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
fn this(view: &View, id: Principal) -> Result<(), (RejectCode, String)> {
    if id == view.canister_id {
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
            this(view, canister_id)?;
            if !view.controllers.contains(&caller) {
                return Err(not_a_controller(view.controllers, canister_id, caller));
            }
            let nat = |n: u64| Nat::from(n);
            encode(CanisterStatusResult {
                status: Status::running,
                settings: DefiniteCanisterSettings {
                    controllers: view.controllers.to_vec(),
                    compute_allocation: nat(0),
                    memory_allocation: nat(0),
                    freezing_threshold: nat(2_592_000),
                    reserved_cycles_limit: nat(5_000_000_000_000),
                    log_visibility: LogVisibility::controllers,
                    wasm_memory_limit: nat(3 << 30),
                    wasm_memory_threshold: nat(0),
                },
                module_hash: Some(view.module_hash.to_vec()),
                memory_size: nat(view.stable_bytes + view.heap_bytes),
                memory_metrics: MemoryMetrics {
                    wasm_memory_size: nat(view.heap_bytes),
                    stable_memory_size: nat(view.stable_bytes),
                    global_memory_size: nat(0),
                    wasm_binary_size: nat(0),
                    custom_sections_size: nat(0),
                    canister_history_size: nat(0),
                    wasm_chunk_store_size: nat(0),
                    snapshots_size: nat(0),
                },
                cycles: Nat::from(crate::host::CYCLE_BALANCE),
                reserved_cycles: nat(0),
                idle_cycles_burned_per_day: nat(0),
                query_stats: QueryStats {
                    num_calls_total: nat(0),
                    num_instructions_total: nat(0),
                    request_payload_bytes_total: nat(0),
                    response_payload_bytes_total: nat(0),
                },
            })
        }
        "canister_info" => {
            let CanisterInfoArg {
                canister_id,
                num_requested_changes,
            } = decode(method, arg)?;
            this(view, canister_id)?;
            let wanted = num_requested_changes.unwrap_or(0).min(20) as usize;
            let skip = view.history.len().saturating_sub(wanted);
            encode(CanisterInfoResult {
                total_num_changes: view.history.len() as u64,
                recent_changes: view.history[skip..].to_vec(),
                module_hash: Some(view.module_hash.to_vec()),
                controllers: view.controllers.to_vec(),
            })
        }
        other => Err((
            RejectCode::DestinationInvalid,
            format!("the embedded runner's management canister has no method `{other}` (it answers raw_rand, canister_status and canister_info)"),
        )),
    }
}

//! What each system call costs on the IC, in instructions, charged to the
//! same counter as the module's own instructions (see
//! [`crate::instrument`]): a fixed overhead (dfinity/ic
//! `rs/embedders/src/wasmtime_embedder/system_api_complexity.rs`, module
//! `overhead`, metering "new") plus a charge per byte the call moves
//! (`system_api/linker.rs`: 1 per byte copied, 50 per byte sent out of the
//! canister in a reply, a reject or a call's argument).
//!
//! Stable memory is the IC's "wasm-native" stable memory: its calls are
//! functions injected into the module, which charge only what they say
//! (`system_api_replacements.rs`): reads and writes 20 and 1 per byte, and
//! 1000 for each page a message writes first; growth 100; the size nothing.
//!
//! The newest calls (`in_replicated_execution`, `cost_call`,
//! `canister_liquid_cycle_balance128`, `msg_deadline`,
//! `call_with_best_effort_response`) are charged the 500 every other call
//! of their kind is.

/// The common overhead of a system call.
const CALL: u64 = 500;

pub const CALL_CYCLES_ADD128: u64 = CALL;
pub const CALL_DATA_APPEND: u64 = CALL;
pub const CALL_NEW: u64 = 1_500;
pub const CALL_ON_CLEANUP: u64 = CALL;
pub const CALL_PERFORM: u64 = 5_000;
pub const CALL_WITH_BEST_EFFORT_RESPONSE: u64 = CALL;
pub const CANISTER_CYCLE_BALANCE128: u64 = CALL;
pub const CANISTER_LIQUID_CYCLE_BALANCE128: u64 = CALL;
pub const CANISTER_SELF_COPY: u64 = CALL;
pub const CANISTER_SELF_SIZE: u64 = CALL;
pub const CANISTER_STATUS: u64 = CALL;
pub const CANISTER_VERSION: u64 = CALL;
pub const CERTIFIED_DATA_SET: u64 = CALL;
pub const COST_CALL: u64 = CALL;
pub const DATA_CERTIFICATE_COPY: u64 = CALL;
pub const DATA_CERTIFICATE_PRESENT: u64 = CALL;
pub const DATA_CERTIFICATE_SIZE: u64 = CALL;
pub const DEBUG_PRINT: u64 = 100;
pub const GLOBAL_TIMER_SET: u64 = CALL;
pub const IN_REPLICATED_EXECUTION: u64 = CALL;
pub const IS_CONTROLLER: u64 = 1_000;
pub const MSG_ARG_DATA_COPY: u64 = CALL;
pub const MSG_ARG_DATA_SIZE: u64 = CALL;
pub const MSG_CALLER_COPY: u64 = CALL;
pub const MSG_CALLER_SIZE: u64 = CALL;
pub const MSG_CYCLES_AVAILABLE128: u64 = CALL;
pub const MSG_DEADLINE: u64 = CALL;
pub const MSG_METHOD_NAME_COPY: u64 = CALL;
pub const MSG_METHOD_NAME_SIZE: u64 = CALL;
pub const MSG_REJECT: u64 = CALL;
pub const MSG_REJECT_CODE: u64 = CALL;
pub const MSG_REJECT_MSG_COPY: u64 = CALL;
pub const MSG_REJECT_MSG_SIZE: u64 = CALL;
pub const MSG_REPLY: u64 = CALL;
pub const MSG_REPLY_DATA_APPEND: u64 = CALL;
pub const PERFORMANCE_COUNTER: u64 = 200;
pub const TIME: u64 = CALL;
pub const TRAP: u64 = CALL;

/// Wasm-native stable memory.
pub const STABLE_READ: u64 = 20;
/// Each 4 KiB page of stable memory a message writes for the first time
/// (`DEFAULT_DIRTY_PAGE_OVERHEAD` of an application subnet's scheduler).
pub const STABLE_DIRTY_PAGE: u64 = 1_000;
pub const STABLE_WRITE: u64 = 20;
pub const STABLE_GROW: u64 = 100;
pub const STABLE_SIZE: u64 = 0;

/// Per byte sent out of the canister: a reply, a reject, a call's argument.
pub const PER_BYTE_SENT: u64 = 50;

/// The canister log's capacity, which bounds what `debug_print` is charged.
const LOG_CAPACITY: u64 = 4 << 10;

/// `debug_print` of `size` bytes on an application subnet: the record kept
/// in the canister log (twice, as it pushes an old one out) and sent out of
/// the sandbox; the text itself is not printed there. The IC bounds the
/// second part by the log's free space; the runner keeps no log of that
/// size and takes it as empty, the most a print can cost.
pub fn debug_print(size: u64) -> u64 {
    let kept = size.min(LOG_CAPACITY);
    DEBUG_PRINT + 2 * kept + PER_BYTE_SENT * kept
}

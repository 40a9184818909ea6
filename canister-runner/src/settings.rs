//! A canister's settings besides its controllers, as `update_settings`
//! changes them and `canister_status` reports them, starting from the IC's
//! defaults (the interface specification's `canister_settings`).

use candid::{Nat, Principal};
use ic_management_canister_types::{
    EnvironmentVariable, LogVisibility, SnapshotVisibility, StatusVisibility,
};
use serde::{Deserialize, Serialize};

/// The settings in effect. The runner keeps them and reports them; what
/// they would limit on the IC (cycles, allocations, the wasm memory limit)
/// it does not enforce, but who may read the status, the logs and the
/// snapshots it does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub compute_allocation: Nat,
    pub memory_allocation: Nat,
    pub freezing_threshold: Nat,
    pub reserved_cycles_limit: Nat,
    pub minimum_incoming_canister_call_cycles: Nat,
    pub log_visibility: LogVisibility,
    pub log_memory_limit: Nat,
    pub snapshot_visibility: SnapshotVisibility,
    pub status_visibility: StatusVisibility,
    pub wasm_memory_limit: Nat,
    pub wasm_memory_threshold: Nat,
    pub environment_variables: Vec<EnvironmentVariable>,
}

impl Default for Settings {
    /// The IC's defaults for a new canister.
    fn default() -> Self {
        Settings {
            compute_allocation: Nat::from(0u64),
            memory_allocation: Nat::from(0u64),
            freezing_threshold: Nat::from(2_592_000u64),
            reserved_cycles_limit: Nat::from(5_000_000_000_000u64),
            minimum_incoming_canister_call_cycles: Nat::from(0u64),
            log_visibility: LogVisibility::Controllers,
            log_memory_limit: Nat::from(4096u64),
            snapshot_visibility: SnapshotVisibility::Controllers,
            status_visibility: StatusVisibility::Controllers,
            wasm_memory_limit: Nat::from(3u64 << 30),
            wasm_memory_threshold: Nat::from(0u64),
            environment_variables: Vec::new(),
        }
    }
}

impl Settings {
    /// Whether `caller` may read the canister's status: its controllers and
    /// the canister itself always, others as `status_visibility` says.
    pub fn may_read_status(
        &self,
        caller: &Principal,
        canister_id: &Principal,
        controllers: &[Principal],
    ) -> bool {
        caller == canister_id
            || controllers.contains(caller)
            || match &self.status_visibility {
                StatusVisibility::Controllers => false,
                StatusVisibility::Public => true,
                StatusVisibility::AllowedViewers(viewers) => viewers.contains(caller),
            }
    }

    /// Whether `caller` may read the canister's log: its controllers
    /// always, others as `log_visibility` says.
    pub fn may_read_logs(&self, caller: &Principal, controllers: &[Principal]) -> bool {
        controllers.contains(caller)
            || match &self.log_visibility {
                LogVisibility::Controllers => false,
                LogVisibility::Public => true,
                LogVisibility::AllowedViewers(viewers) => viewers.contains(caller),
            }
    }

    /// Whether `caller` may list and read the canister's snapshots: its
    /// controllers always, others as `snapshot_visibility` says.
    pub fn may_read_snapshots(&self, caller: &Principal, controllers: &[Principal]) -> bool {
        controllers.contains(caller)
            || match &self.snapshot_visibility {
                SnapshotVisibility::Controllers => false,
                SnapshotVisibility::Public => true,
                SnapshotVisibility::AllowedViewers(viewers) => viewers.contains(caller),
            }
    }

    /// The log's size limit in bytes (`log_memory_limit`).
    pub fn log_limit(&self) -> u64 {
        u64::try_from(&self.log_memory_limit.0).unwrap_or(u64::MAX)
    }
}

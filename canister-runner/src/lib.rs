#![doc = include_str!("../README.md")]

mod call;
mod canister;
mod error;
mod execute;
mod heap;
mod host;
mod instrument;
mod limits;
mod log;
mod management;
mod module;
mod pieces;
mod settings;
mod stable;

pub use call::{CallResult, CallStats, Reject, RejectCode};
pub use canister::{
    Canister, CanisterRecord, GlobalValue, Hash, HookStatus, InstallArgs, SnapshotRecord, Timer,
};
pub use error::RunnerError;
pub use host::implemented as implemented_ic0;
/// One record of the canister's log, as `fetch_canister_logs` gives it.
pub use ic_management_canister_types::CanisterLogRecord;
/// Running, stopping or stopped, as `canister_status` says.
pub use ic_management_canister_types::CanisterStatusType;
pub use limits::Limits;
pub use log::CanisterLog;
pub use module::{metadata as module_metadata, Metadata};
pub use pieces::PiecesRecord;
pub use settings::Settings;

#![doc = include_str!("../README.md")]

mod call;
mod canister;
mod error;
mod execute;
mod heap;
mod host;
mod instrument;
mod limits;
mod management;
mod module;
mod settings;
mod stable;

pub use call::{CallResult, CallStats, Reject, RejectCode};
pub use canister::{Canister, InstallArgs};
pub use error::RunnerError;
pub use host::implemented as implemented_ic0;
pub use limits::Limits;
pub use module::Metadata;
pub use settings::Settings;

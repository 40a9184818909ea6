//! The library of `ic-backup`: backs up, restores, dumps and loads a
//! canister's data through a [`target::Target`], live or offline, in the
//! backup-file formats of [`json`], resuming after any interruption.
//!
//! The binary (`ic-backup`) reads the command line and calls
//! [`connect::with_target`] and one module of [`ops`]; `backup-serve` puts
//! an [`target::Offline`] target behind the IC's HTTP interface; the
//! benchmarks drive the same operations through a target of their own.

pub mod connect;
pub mod disk;
pub mod durable;
pub mod error;
pub mod identity;
pub mod interface;
pub mod json;
pub mod lock;
pub mod messages;
pub mod ops;
mod progress;
pub mod project;
pub mod resume;
pub mod snapshot;
pub mod stream;
pub mod subnet;
pub mod target;
pub mod wal;

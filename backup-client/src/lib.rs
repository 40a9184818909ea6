#![doc = include_str!("../README.md")]

pub mod blobs;
pub mod connect;
pub mod disk;
pub mod durable;
pub mod error;
pub mod identity;
pub mod interface;
pub mod json;
pub mod layout;
pub mod lock;
pub mod messages;
pub mod native;
pub mod ops;
mod progress;
pub mod project;
pub mod resume;
pub mod snapshot;
pub mod stream;
pub mod subnet;
pub mod target;
pub mod versions;
pub mod wal;

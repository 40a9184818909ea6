//! The operations, one module each, over a [`Target`](crate::target::Target):
//! what `ic-backup`'s commands do once their arguments are read.

pub mod auth;
pub mod backup;
pub mod call;
pub mod migrate;
pub mod raw;
pub mod repo;
pub mod restore;
pub mod snapshot;
pub mod upgrade;

pub use crate::messages::{notice, output, set_quiet};

/// The SHA-256 of `bytes`, hex: a snapshot chunk's, a module's.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

//! Tests of the derive (trybuild), of native image access through the
//! examples, and of a canister crate outside this workspace. See the
//! `[[test]]` targets in `Cargo.toml`.

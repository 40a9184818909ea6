//! The runner's tests on hand-written canisters, one binary: each module a
//! file beside this one (what it tests in its own doc comment). They are a
//! package of their own (`runner-tests`): the runner is optimised even in
//! test builds (its package's profile in the workspace's Cargo.toml), and
//! its tests, built in its package, would be too, for nothing.
//!
//! One module: `cargo test -p runner-tests --test runner metering::`.

mod common;

mod install;
mod management;
mod metering;
mod rollback;
mod semantics;
mod snapshots;

//! The CLI's tests, one binary: each module a file beside this one (what it
//! tests in its own doc comment), `common` what they share. One binary links
//! once, and its tests share the machine's cores as one pool instead of
//! running binary after binary.
//!
//! One module: `cargo test -p ic-backup --test cli-tests kill::`.

mod common;

mod adoption;
mod agent_js;
mod cli;
mod consistent;
mod durability;
mod formats;
mod identities;
mod kill;
mod layout;
mod management;
mod parsers;
mod random_types;
mod repository;
mod safety;
mod serve;
mod snapshot;
mod snapshot_transfer;
mod structures;
mod versions;

//! The workspace's tests of the examples, natively and as real wasm in the
//! runner, and of the workspace's structure and docs: one binary, each
//! module a file beside this one (what it tests in its own doc comment).
//! (`e2e_structures.rs` is a binary of its own: it links the club canister
//! natively, whose exported symbols clash with the profiles canister's.)
//!
//! One module: `cargo test -p backup-tests --test e2e e2e_safety::`.

mod architecture;
mod docs_links;
mod e2e_access;
mod e2e_bad_input;
mod e2e_raw_repair;
mod e2e_round_trip;
mod e2e_safety;
mod e2e_strict_values;
mod e2e_upgrade;
mod external_crate;
mod native_image;

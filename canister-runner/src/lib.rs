//! An embedded Internet Computer execution environment for one canister.
//!
//! It loads a canister's real wasm (as built for `wasm32-unknown-unknown`)
//! into [wasmi](https://docs.rs/wasmi), implements the `ic0` system API that
//! Rust canisters built with ic-cdk 0.20 import, and runs `canister_init`,
//! queries, updates and upgrades with the IC's semantics where they matter
//! for data safety:
//!
//! * a trap rolls back everything an update changed, heap (its size as the
//!   canister sees it included), stable memory and certified data, at the
//!   cost of the pages the message wrote, not of the heap;
//! * a query's changes are always thrown away; a query may also be called
//!   as an update is (replicated, replies up to 2 MiB);
//! * `canister_init` and the upgrade hooks run as the installer;
//! * an upgrade runs `canister_pre_upgrade`, then the new module on an empty
//!   heap and the same stable memory, then `canister_post_upgrade`, under
//!   one instruction limit, and leaves the canister as it was if any step
//!   fails; a gzip-compressed module is decompressed first;
//! * arguments over 2 MiB are refused, replies over 2 MiB (update) or 3 MiB
//!   (query) trap, and execution stops past 5 B (query), 40 B (update) or
//!   300 B (install, upgrade) instructions, counted as the IC counts them
//!   (the module metered with the IC's cost table, each system call
//!   charged its overhead and bytes; see `scripts/fidelity.sh`); a
//!   message touches at most 1 GiB (query), 2 GiB (update) or 8 GiB
//!   (upgrade) of stable memory, as on the IC;
//! * inter-canister calls: the state at the `await` is kept, callbacks run
//!   as messages of their own (cleanup after a trap), a call to a canister
//!   that does not exist is rejected with code 3, and the management
//!   canister answers `raw_rand` (seeded), `canister_status` and
//!   `canister_info` for the canister itself;
//! * callers and controllers are principals the caller of the runner chooses.
//!
//! It is not a replica: one canister, no consensus, no cycles accounting.
//! Any import it does not implement is linked to a function that traps with
//! the import's name, so a canister that needs it fails clearly when it
//! calls it, not when it loads.
//!
//! ```no_run
//! use canister_runner::{Canister, InstallArgs};
//! use candid::{Encode, Decode, Principal};
//!
//! let wasm = std::fs::read("target/wasm32-unknown-unknown/release/profiles.wasm")?;
//! let admin = Principal::from_slice(&[1; 29]);
//! let mut canister = Canister::install(&wasm, InstallArgs { controllers: vec![admin], ..Default::default() })?;
//! let reply = canister.query(admin, "stable_size", &Encode!()?).result?;
//! println!("{} bytes of stable memory", Decode!(&reply, u64)?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

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
mod stable;

pub use call::{CallResult, CallStats, Reject, RejectCode};
pub use canister::{Canister, InstallArgs};
pub use error::RunnerError;
pub use host::implemented as implemented_ic0;
pub use limits::Limits;
pub use module::Metadata;

//! What the Backupable crates share, so each fact has one definition: the
//! Internet Computer's limits ([`limits`]), which the runtime keeps under and
//! the runner enforces, and files written atomically and durably
//! ([`durable`]), which the runtime, the runner and the CLI write images and
//! state through; and unsigned LEB128 ([`leb128`]), which Candid and wasm
//! both use. No dependencies beyond `std`.

pub mod durable;
pub mod leb128;
pub mod limits;

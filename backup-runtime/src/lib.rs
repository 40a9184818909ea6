//! Backup, restore and raw stable memory access for Internet Computer
//! canisters whose data lives in `ic-stable-structures` maps.
//!
//! A canister declares its maps once, as the fields of a struct, and derives
//! [`Backupable`]:
//!
//! ```
//! use backup_runtime::prelude::*;
//!
//! #[derive(Clone, Debug, Default, CandidType, Deserialize)]
//! pub struct Profile {
//!     username: Option<String>,
//!     email: Option<String>,
//! }
//!
//! impl Storable for Profile {
//!     fn to_bytes(&self) -> Cow<'_, [u8]> {
//!         Cow::Owned(candid::encode_one(self).unwrap())
//!     }
//!     fn into_bytes(self) -> Vec<u8> {
//!         candid::encode_one(&self).unwrap()
//!     }
//!     fn from_bytes(bytes: Cow<[u8]>) -> Self {
//!         candid::decode_one(&bytes).unwrap()
//!     }
//!     const BOUND: Bound = Bound::Unbounded;
//! }
//!
//! #[derive(Backupable)]
//! pub struct Stable {
//!     /// User profiles; keys travel as principal text.
//!     #[backup(memory_id = 0, key = text)]
//!     profiles: StableBTreeMap<Principal, Profile, Memory>,
//! }
//!
//! ic_cdk::export_candid!();
//! # fn main() {
//! #     PROFILES.with(|p| p.borrow_mut().insert(Principal::anonymous(), Profile::default()));
//! #     assert!(__export_service().contains("backup_profiles_page"));
//! # }
//! ```
//!
//! The derive generates, in the module of the struct:
//!
//! * for each field `name`, a `thread_local!` static `NAME` of type
//!   `RefCell<StableBTreeMap<K, V, M>>`, used as `NAME.with(|m| m.borrow().get(&k))`;
//! * for each field not marked `skip`, the endpoints
//!   `backup_name(offset, count)` (query, the article's offset pages),
//!   `backup_name_page(after, max_bytes, until)` (query, cursor pages up to
//!   and including `until`), `backup_name_splits(after, parts, walked)`
//!   (query: where a parallel backup may cut the map into `parts` spans),
//!   `restore_name(entries)` (update), `validate_name(entries)` (query: every
//!   check of `restore_name`, writing nothing) and `clear_name()` (update),
//!   all guarded by `is_authorized`; after a `stable_write` they refuse
//!   until the canister is upgraded, and over a memory that holds another
//!   structure they refuse, naming it;
//! * the guards [`is_authorized`](#guards) and `is_stable_authorized`, the admin
//!   endpoints `authorize`, `deauthorize`, `list_authorized`, `stable_authorize`,
//!   `stable_deauthorize`, and the raw endpoints `stable_size`, `stable_read`,
//!   `stable_write` and `stable_digest`;
//! * on native builds, `Stable::open_image(path)` and `Stable::save_image(path)`
//!   to read and repair a stable memory image offline through the same statics.
//!
//! # Guards
//!
//! `is_authorized` passes for controllers and for principals in the admin set,
//! which lives in stable memory (memory id 254 unless `auth_memory_id` says
//! otherwise) and so survives upgrades. `is_stable_authorized` passes for
//! controllers and for principals in the raw-access set, which lives on the
//! heap and is emptied by every upgrade. The anonymous principal never passes.
//! Both are `pub fn() -> Result<(), String>`, so a canister can put them on its
//! own methods: `#[ic_cdk::query(guard = "is_authorized")]`.
//!
//! # Dependencies
//!
//! ic-cdk's own macros name `::candid` and `::ic_cdk`, so a canister depends on
//! `backup-runtime`, `ic-cdk` (0.20), `candid` (0.10) and `ic-stable-structures`
//! (0.7). Everything the generated code needs otherwise comes through this crate.
//!
//! # Derive options
//!
//! | where | option | meaning |
//! | --- | --- | --- |
//! | field | `memory_id = N` | required; the `MemoryId` of the map, `0..=254`, unique |
//! | field | `key = text` | keys travel as text, through [`KeyText`]; only a key's canonical text is accepted |
//! | field | `rename = "x"` | endpoint suffix `x` instead of the field name |
//! | field | `skip` | the static is declared, but no endpoints are generated |
//! | struct | `memory = path::to::fn` | a `fn(MemoryId) -> M` that hands out the canister's own virtual memories |
//! | struct | `auth_memory_id = N` | where the admin set lives; default 254 |
//!
//! With `memory = ...`, build the `MemoryManager` over [`stable_memory()`] so
//! that native image access (`open_image`) sees the same bytes.
//!
//! A value type whose `Storable` bytes are exactly `candid::encode_one(&v)`
//! can say so with an empty `impl CandidBytes for V {}`: pages then carry its
//! stored bytes as they are, and restores check each value with `V`'s own
//! decoder before storing it (see [`CandidBytes`]).

//! # Modules
//!
//! The logic behind the endpoints is plain Rust that takes the caller, the
//! memory and the map as arguments, so it runs and is tested natively:
//! [`auth`] (the two guards and their sets), [`page`] (backup pages under the
//! reply and instruction limits), [`restore`] (all-or-nothing batches),
//! [`raw`] (bounded raw reads, writes and digests), [`image`] (checking and
//! loading stable memory images), [`memory`](mod@memory) and [`limits`].

pub mod auth;
pub mod canonical;
pub mod endpoint;
pub mod image;
mod key;
pub mod limits;
pub mod memory;
pub mod page;
pub mod raw;
pub mod restore;

pub use auth::{AccessError, AdminSet, Guard, RawAccessSet};
pub use backup_derive::Backupable;
pub use image::{ImageError, Layout, MapHeader, Region, VirtualMemoryInfo};
pub use key::{CandidKey, KeyCodec, KeyText, TextKey};
pub use memory::{memory, stable_memory, Memory};
pub use page::{BackupPage, CandidBytes, PageError, PageLimits};
pub use raw::RawError;
pub use restore::RestoreError;

/// What a canister needs in scope to declare its maps.
pub mod prelude {
    pub use crate::{Backupable, CandidBytes, KeyText, Memory};
    pub use candid::{CandidType, Deserialize, Principal};
    pub use ic_stable_structures::memory_manager::{MemoryId, MemoryManager, VirtualMemory};
    pub use ic_stable_structures::storable::Bound;
    pub use ic_stable_structures::{DefaultMemoryImpl, StableBTreeMap, Storable};
    pub use std::borrow::Cow;
    pub use std::cell::RefCell;
}

/// Paths used by the code `#[derive(Backupable)]` generates. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::auth::{self, AdminSet, LazyAdminSet, RawAccessSet};
    pub use crate::endpoint;
    pub use crate::image;
    pub use crate::key::{CandidKey, KeyCodec, KeyText, TextKey};
    pub use crate::memory::{self, Memory};
    pub use crate::page::{self, BackupPage, PageLimits};
    pub use crate::raw;
    pub use crate::restore;
    pub use candid::{self, CandidType, Principal};
    pub use ic_cdk;
    pub use ic_stable_structures::memory_manager::MemoryId;
    pub use ic_stable_structures::{Memory as MemoryTrait, StableBTreeMap, Storable};
    pub use serde::de::DeserializeOwned;
    pub use serde_bytes::ByteBuf;
    pub use std::cell::RefCell;
    pub use std::result::Result;
    pub use std::string::String;
    pub use std::vec::Vec;

    /// Compile-time checks placed on the user's types with their spans, so a
    /// missing trait is reported on the field rather than in generated code.
    pub fn assert_map<K, V, M>()
    where
        K: Storable + Ord + Clone,
        V: Storable,
        M: MemoryTrait,
    {
    }
    pub fn assert_candid<T: CandidType + DeserializeOwned>() {}
    pub fn assert_key_text<T: KeyText>() {}

    /// The body of what a refused `#[derive(Backupable)]` still declares:
    /// the crate does not compile, so it never runs.
    pub fn never<T>() -> T {
        unreachable!("#[derive(Backupable)] refused this struct; the crate cannot have compiled")
    }

    /// Traps with `message` when a generated endpoint's logic fails; the IC
    /// rolls back every change of the call and rejects it with the message.
    pub fn or_trap<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
        match result {
            Ok(value) => value,
            Err(error) => ic_cdk::trap(error.to_string()),
        }
    }

    /// The instruction counter on wasm; natively there is none, so pages are
    /// bounded by bytes only.
    pub fn instruction_counter() -> u64 {
        #[cfg(target_family = "wasm")]
        {
            ic_cdk::api::instruction_counter()
        }
        #[cfg(not(target_family = "wasm"))]
        {
            0
        }
    }

    /// The caller of the current message and whether it controls the canister.
    pub fn caller() -> (Principal, bool) {
        let caller = ic_cdk::api::msg_caller();
        let controller = ic_cdk::api::is_controller(&caller);
        (caller, controller)
    }
}

#![doc = include_str!("../README.md")]

/// Declares a Candid type that is exactly `$inner`, generic over the
/// endpoint trait's implementor `$param` (a map or an indexed structure),
/// for the endpoints' signatures: same type in the interface, same bytes
/// on the wire.
macro_rules! transparent {
    ($param:ident: $bound:path; $(#[$doc:meta])* $name:ident = $inner:ty) => {
        $(#[$doc])*
        pub struct $name<$param: $bound>(pub $inner, ::std::marker::PhantomData<$param>);

        impl<$param: $bound> $name<$param> {
            pub fn new(inner: $inner) -> Self {
                $name(inner, ::std::marker::PhantomData)
            }
        }

        impl<$param: $bound> ::candid::CandidType for $name<$param> {
            fn ty() -> ::candid::types::Type {
                <$inner as ::candid::CandidType>::ty()
            }
            fn _ty() -> ::candid::types::Type {
                <$inner as ::candid::CandidType>::_ty()
            }
            fn _ty_doc() -> ::candid::types::internal::TypeDoc {
                <$inner as ::candid::CandidType>::_ty_doc()
            }
            fn id() -> ::candid::types::TypeId {
                <$inner as ::candid::CandidType>::id()
            }
            fn idl_serialize<__S: ::candid::types::Serializer>(
                &self,
                serializer: __S,
            ) -> ::std::result::Result<(), __S::Error> {
                ::candid::CandidType::idl_serialize(&self.0, serializer)
            }
        }

        impl<'de, $param: $bound> ::serde::Deserialize<'de> for $name<$param> {
            fn deserialize<__D: ::serde::Deserializer<'de>>(
                deserializer: __D,
            ) -> ::std::result::Result<Self, __D::Error> {
                <$inner as ::serde::Deserialize>::deserialize(deserializer).map($name::new)
            }
        }
    };
}

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
pub mod seq;

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
    pub use ic_stable_structures::{
        DefaultMemoryImpl, StableBTreeMap, StableBTreeSet, StableCell, StableLog, StableMinHeap,
        StableVec, Storable,
    };
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
    pub use crate::seq;
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
    pub fn assert_log<V: Storable, I: MemoryTrait, D: MemoryTrait>() {}
    pub fn assert_heap<V: Storable + PartialOrd, M: MemoryTrait>() {}
    pub fn assert_stored<V: Storable, M: MemoryTrait>() {}

    /// Evaluated as a constant on the user's value type: a `StableVec` or
    /// `StableMinHeap` keeps each value in a slot of its bound's size, so
    /// one of an unbounded type would trap when the structure is created.
    pub const fn assert_bounded<V: Storable>() {
        if matches!(V::BOUND, ic_stable_structures::storable::Bound::Unbounded) {
            panic!("a StableVec or StableMinHeap holds values of a bounded size: give the value type `const BOUND: Bound = Bound::Bounded {{ max_size, is_fixed_size }}`, or keep it in a StableLog or StableBTreeMap");
        }
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

//! The bodies of the generated map endpoints, generic over [`BackupMap`].
//!
//! The derive implements [`BackupMap`] once per map, on a marker type, and
//! names only that marker in the endpoints it generates. The map's key and
//! value types meet their bounds (Candid, `KeyText`, `Storable`) in that one
//! impl, so a type that misses one is reported once, on the user's field,
//! instead of once per endpoint; and the endpoints themselves are a line
//! each, the logic living here where it is tested.

use crate::key::KeyCodec;
use crate::page::{self, BackupPage, PageLimits};
use crate::restore;
use candid::types::{Serializer, Type, TypeId};
use candid::CandidType;
use ic_stable_structures::{Memory, StableBTreeMap, Storable};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use std::cell::RefCell;
use std::marker::PhantomData;

/// One map of a `#[derive(Backupable)]` struct, as its endpoints see it.
pub trait BackupMap: Sized + 'static {
    /// The key type, as stored.
    type Key: Storable + Ord + Clone;
    /// The value type, which travels as its own Candid type.
    type Value: Storable + CandidType + DeserializeOwned;
    /// The map's memory.
    type Memory: Memory;
    /// The key as it travels: the key type itself, or `String` under
    /// `key = text`. Named here, not derived from the codec, so the
    /// endpoints' types never need the codec's impl to be resolved.
    type Wire: CandidType + DeserializeOwned;
    /// How keys travel: `CandidKey`, or `TextKey` under `key = text`.
    type Codec: KeyCodec<Self::Key, Wire = Self::Wire>;

    /// A handle on the map's memory (its header tells the map's layout).
    fn memory() -> Self::Memory;

    /// Runs `f` on the map's static.
    fn with<R>(
        f: impl FnOnce(&RefCell<StableBTreeMap<Self::Key, Self::Value, Self::Memory>>) -> R,
    ) -> R;

    /// The reply of `backup_<name>_page`. The derive picks, through
    /// [`Probe`], the stored bytes of a [`CandidBytes`](page::CandidBytes)
    /// value, or decoding and encoding every value otherwise.
    fn cursor_page(
        after: Option<Self::Wire>,
        limits: PageLimits,
        instructions: &dyn Fn() -> u64,
    ) -> Result<Vec<u8>, page::PageError> {
        decoding_page::<Self>(after, limits, instructions)
    }
}

/// A cursor page of values decoded and encoded again.
fn decoding_page<M: BackupMap>(
    after: Option<M::Wire>,
    limits: PageLimits,
    instructions: &dyn Fn() -> u64,
) -> Result<Vec<u8>, page::PageError> {
    M::with(|map| {
        page::encode_cursor_page::<_, _, _, M::Codec>(&map.borrow(), after, limits, instructions)
    })
}

/// Picks how a map's pages are encoded from what its value type is:
/// `(&Probe::<M>::new()).cursor_page(..)` on a concrete `M` finds
/// [`ViaStoredBytes`] (implemented for `Probe`) first when `M::Value:
/// CandidBytes`, and [`ViaDecoding`] (for `&Probe`, one auto-reference
/// further) otherwise.
pub struct Probe<M>(PhantomData<M>);

impl<M> Probe<M> {
    pub fn new() -> Self {
        Probe(PhantomData)
    }
}

impl<M> Default for Probe<M> {
    fn default() -> Self {
        Self::new()
    }
}

/// Pages from the values' stored bytes.
pub trait ViaStoredBytes<M: BackupMap> {
    fn cursor_page(
        &self,
        after: Option<M::Wire>,
        limits: PageLimits,
        instructions: &dyn Fn() -> u64,
    ) -> Result<Vec<u8>, page::PageError>;
}

impl<M: BackupMap> ViaStoredBytes<M> for Probe<M>
where
    M::Value: page::CandidBytes,
{
    fn cursor_page(
        &self,
        after: Option<M::Wire>,
        limits: PageLimits,
        instructions: &dyn Fn() -> u64,
    ) -> Result<Vec<u8>, page::PageError> {
        use ic_stable_structures::Memory as _;
        // An empty memory holds no map to open yet: the usual path says so.
        if M::memory().size() == 0 {
            return decoding_page::<M>(after, limits, instructions);
        }
        page::encode_cursor_page_spliced::<M::Key, M::Value, M::Memory, M::Codec>(
            M::memory(),
            after,
            limits,
            instructions,
        )
    }
}

/// Pages from the values decoded and encoded again.
pub trait ViaDecoding<M: BackupMap> {
    fn cursor_page(
        &self,
        after: Option<M::Wire>,
        limits: PageLimits,
        instructions: &dyn Fn() -> u64,
    ) -> Result<Vec<u8>, page::PageError>;
}

impl<M: BackupMap> ViaDecoding<M> for &Probe<M> {
    fn cursor_page(
        &self,
        after: Option<M::Wire>,
        limits: PageLimits,
        instructions: &dyn Fn() -> u64,
    ) -> Result<Vec<u8>, page::PageError> {
        decoding_page::<M>(after, limits, instructions)
    }
}

/// Declares a Candid type that is exactly `$inner`, for the endpoints'
/// signatures: same type in the interface, same bytes on the wire.
macro_rules! transparent {
    ($(#[$doc:meta])* $name:ident = $inner:ty) => {
        $(#[$doc])*
        pub struct $name<M: BackupMap>(pub $inner, PhantomData<M>);

        impl<M: BackupMap> $name<M> {
            pub fn new(inner: $inner) -> Self {
                $name(inner, PhantomData)
            }
        }

        impl<M: BackupMap> CandidType for $name<M> {
            fn ty() -> Type {
                <$inner>::ty()
            }
            fn _ty() -> Type {
                <$inner>::_ty()
            }
            fn _ty_doc() -> candid::types::internal::TypeDoc {
                <$inner>::_ty_doc()
            }
            fn id() -> TypeId {
                <$inner>::id()
            }
            fn idl_serialize<S: Serializer>(&self, serializer: S) -> Result<(), S::Error> {
                self.0.idl_serialize(serializer)
            }
        }

        impl<'de, M: BackupMap> Deserialize<'de> for $name<M> {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                <$inner>::deserialize(deserializer).map($name::new)
            }
        }
    };
}

transparent!(
    /// `vec record { K; V }`: a restore batch, or an offset page.
    Entries = Vec<(M::Wire, M::Value)>
);
transparent!(
    /// `record { entries; next; len; skipped }`: a cursor page.
    Page = BackupPage<M::Wire, M::Value>
);
transparent!(
    /// `opt K`: where a cursor page starts.
    Cursor = Option<M::Wire>
);

/// Traps with [`StaleHeap`](crate::raw::StaleHeap)'s message after a raw
/// write, until the upgrade: the first line of every typed endpoint.
pub fn fresh() {
    crate::__private::or_trap(crate::raw::check_heap_fresh());
}

/// `backup_<name>(offset, count)`: replies with the encoded page itself.
pub fn backup<M: BackupMap>(offset: u64, count: u64) -> Entries<M> {
    fresh();
    let reply = M::with(|map| {
        page::encode_offset_page::<_, _, _, M::Codec>(
            &map.borrow(),
            offset,
            count,
            PageLimits::default(),
            &crate::__private::instruction_counter,
        )
    });
    ic_cdk::api::msg_reply(crate::__private::or_trap(reply));
    Entries::new(Vec::new())
}

/// `backup_<name>_page(after, max_bytes)`: replies with the encoded page itself.
pub fn backup_page<M: BackupMap>(after: Cursor<M>, max_bytes: Option<u64>) -> Page<M> {
    fresh();
    let reply = PageLimits::with_max_bytes(max_bytes)
        .and_then(|limits| M::cursor_page(after.0, limits, &crate::__private::instruction_counter));
    ic_cdk::api::msg_reply(crate::__private::or_trap(reply));
    Page::new(BackupPage {
        entries: Vec::new(),
        next: None,
        len: 0,
        skipped: Vec::new(),
    })
}

/// `restore_<name>(entries)`: every entry checked before the map is touched.
pub fn restore<M: BackupMap>(entries: Entries<M>) -> Result<u64, String> {
    fresh();
    restore::check::<M::Key, M::Value, M::Codec>(entries.0, v1_layout::<M>())
        .map(|checked| M::with(|map| restore::insert_all(&mut map.borrow_mut(), checked)))
        .map_err(|error| error.to_string())
}

/// `validate_<name>(entries)`: the checks of `restore_<name>`, writing nothing.
pub fn validate<M: BackupMap>(entries: Entries<M>) -> Result<u64, String> {
    fresh();
    restore::validate::<M::Key, M::Value, M::Codec>(entries.0, v1_layout::<M>())
        .map_err(|error| error.to_string())
}

/// The map's V1 layout, if ic-stable-structures 0.5 or earlier wrote it. An
/// empty stable memory holds no map: it is not opened, so that a refused
/// batch on a fresh canister writes nothing.
fn v1_layout<M: BackupMap>() -> Option<restore::V1Layout> {
    use ic_stable_structures::Memory as _;
    if crate::memory::stable_memory().size() == 0 {
        return None;
    }
    restore::V1Layout::of(&M::memory())
}

/// `clear_<name>()`.
pub fn clear<M: BackupMap>() -> u64 {
    fresh();
    M::with(|map| restore::clear(&mut map.borrow_mut(), M::memory()))
}

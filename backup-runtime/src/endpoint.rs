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

    /// The map's memory id.
    const MEMORY_ID: u8;
    /// Whether its memory is one of the runtime's own `MemoryManager`
    /// (rather than of a `memory = ...` function of the canister's).
    const RUNTIME_MANAGER: bool;

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
        span: Span<Self>,
        limits: PageLimits,
        instructions: &dyn Fn() -> u64,
    ) -> Result<Vec<u8>, page::PageError> {
        decoding_page::<Self>(span, limits, instructions)
    }

    /// The argument of `restore_<name>` and `validate_<name>`. The derive
    /// picks, through [`Probe`], the values' bytes as the message carries
    /// them for a [`CandidBytes`](page::CandidBytes) value, or decoding
    /// every value otherwise.
    fn decode_batch(arg: &[u8]) -> Result<Batch<Self>, String> {
        decode_values::<Self>(arg)
    }
}

/// A restore batch decoded as ic-cdk decodes an argument.
fn decode_values<M: BackupMap>(arg: &[u8]) -> Result<Batch<M>, String> {
    let arg: &[u8] = if arg.is_empty() { b"DIDL\x00\x00" } else { arg };
    let config = decoder_config();
    candid::utils::decode_args_with_config::<(Vec<(M::Wire, M::Value)>,)>(arg, &config)
        .map(|(entries,)| Batch(BatchData::Values(entries)))
        .map_err(|error| format!("expected a restore batch `vec record {{ key; value }}`: {error}"))
}

/// A restore batch of [`CandidBytes`](page::CandidBytes) values whose bytes
/// in the message are in the map's own types (the message declares them
/// and each value is in the form `candid` writes): each value as it is to
/// be stored, checked by the value type's own decoder ([`own_values`]).
/// `None` for any other message, which is then decoded.
fn stored_values<M: BackupMap>(arg: &[u8]) -> Option<Batch<M>> {
    use crate::canonical::{header_of, Shape};
    let shape = Shape::parse(&header_of::<Vec<(M::Wire, M::Value)>>().ok()?)?;
    let entries = shape.split_entries(arg)?;
    // The keys are decoded together: one message of them all.
    let mut keys = header_of::<Vec<M::Wire>>().ok()?;
    backup_common::leb128::push(&mut keys, entries.len() as u64);
    for (key, _) in &entries {
        keys.extend_from_slice(key);
    }
    let wires: Vec<M::Wire> = candid::decode_one(&keys).ok()?;
    let bodies: Vec<&[u8]> = entries.iter().map(|(_, value)| *value).collect();
    let values = own_values::<M::Value>(&bodies)?;
    Some(Batch(BatchData::Stored(
        wires.into_iter().zip(values).collect(),
    )))
}

/// What a restore message's values (`bodies`, each one value of `V` in the
/// form `candid` writes, without the header) are to be stored as: decoded
/// by `V`'s own `Deserialize` (all in one message), so that a value the
/// canister could not read back is refused (an `Err` with the decoder's
/// message); stored as sent when `V`'s own encoding of what was decoded is
/// those bytes (checked for all at once), else as that encoding (a type
/// whose `Deserialize` normalises, a map with a key twice, say), as the
/// canister itself would write them.
pub fn own_values<V>(bodies: &[&[u8]]) -> Option<Vec<restore::StoredValue>>
where
    V: CandidType + DeserializeOwned + Storable,
{
    use crate::canonical::header_of;
    let header = header_of::<V>().ok()?;
    let stored = |body: &[u8]| [header.as_slice(), body].concat();
    let mut message = header_of::<Vec<V>>().ok()?;
    backup_common::leb128::push(&mut message, bodies.len() as u64);
    for body in bodies {
        message.extend_from_slice(body);
    }
    let config = decoder_config();
    let Ok(values) = candid::utils::decode_one_with_config::<Vec<V>>(&message, &config) else {
        // One or more values refused: each decoded alone, for its message.
        return Some(
            bodies
                .iter()
                .map(|body| {
                    let bytes = stored(body);
                    candid::utils::decode_one_with_config::<V>(&bytes, &config)
                        .map(|_| bytes)
                        .map_err(|error| format!("{error:#}"))
                })
                .collect(),
        );
    };
    if candid::encode_one(&values).ok().as_deref() == Some(message.as_slice()) {
        return Some(bodies.iter().map(|body| Ok(stored(body))).collect());
    }
    Some(
        values
            .iter()
            .zip(bodies)
            .map(|(value, body)| {
                let bytes = stored(body);
                let own = value.to_bytes();
                Ok(if *own == *bytes {
                    bytes
                } else {
                    own.into_owned()
                })
            })
            .collect(),
    )
}

/// How restore batches are decoded: as ic-cdk decodes an argument.
fn decoder_config() -> candid::DecoderConfig {
    let mut config = candid::DecoderConfig::new();
    config.set_skipping_quota(10_000);
    // The decoder's own message, not a dump of the input (as on wasm).
    config.set_full_error_message(false);
    config
}

/// A cursor page of values decoded and encoded again.
fn decoding_page<M: BackupMap>(
    (after, until): Span<M>,
    limits: PageLimits,
    instructions: &dyn Fn() -> u64,
) -> Result<Vec<u8>, page::PageError> {
    M::with(|map| {
        let map = map.borrow();
        page::encode_cursor_page::<_, _, _, M::Codec>(&map, after, until, limits, instructions)
    })
}

/// The keys a cursor page starts after and ends at (both optional).
pub type Span<M> = (
    Option<<M as BackupMap>::Wire>,
    Option<<M as BackupMap>::Wire>,
);

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

/// Pages from the values' stored bytes, and batches to them.
pub trait ViaStoredBytes<M: BackupMap> {
    fn cursor_page(
        &self,
        span: Span<M>,
        limits: PageLimits,
        instructions: &dyn Fn() -> u64,
    ) -> Result<Vec<u8>, page::PageError>;

    fn decode_batch(&self, arg: &[u8]) -> Result<Batch<M>, String>;
}

impl<M: BackupMap> ViaStoredBytes<M> for Probe<M>
where
    M::Value: page::CandidBytes,
{
    fn cursor_page(
        &self,
        (after, until): Span<M>,
        limits: PageLimits,
        instructions: &dyn Fn() -> u64,
    ) -> Result<Vec<u8>, page::PageError> {
        use ic_stable_structures::Memory as _;
        // An empty memory holds no map to open yet: the usual path says so.
        if M::memory().size() == 0 {
            return decoding_page::<M>((after, until), limits, instructions);
        }
        page::encode_cursor_page_spliced::<M::Key, M::Value, M::Memory, M::Codec>(
            M::memory(),
            after,
            until,
            limits,
            instructions,
        )
    }

    fn decode_batch(&self, arg: &[u8]) -> Result<Batch<M>, String> {
        stored_values::<M>(arg).map_or_else(|| decode_values::<M>(arg), Ok)
    }
}

/// Pages from the values decoded and encoded again; batches decoded.
pub trait ViaDecoding<M: BackupMap> {
    fn cursor_page(
        &self,
        span: Span<M>,
        limits: PageLimits,
        instructions: &dyn Fn() -> u64,
    ) -> Result<Vec<u8>, page::PageError>;

    fn decode_batch(&self, arg: &[u8]) -> Result<Batch<M>, String>;
}

impl<M: BackupMap> ViaDecoding<M> for &Probe<M> {
    fn cursor_page(
        &self,
        span: Span<M>,
        limits: PageLimits,
        instructions: &dyn Fn() -> u64,
    ) -> Result<Vec<u8>, page::PageError> {
        decoding_page::<M>(span, limits, instructions)
    }

    fn decode_batch(&self, arg: &[u8]) -> Result<Batch<M>, String> {
        decode_values::<M>(arg)
    }
}

transparent!(
    M: BackupMap;
    /// `vec record { K; V }`: a restore batch, or an offset page.
    Entries = Vec<(M::Wire, M::Value)>
);
transparent!(
    M: BackupMap;
    /// `record { entries; next; len; skipped }`: a cursor page.
    Page = BackupPage<M::Wire, M::Value>
);
transparent!(
    M: BackupMap;
    /// `opt K`: where a cursor page starts, or ends.
    Cursor = Option<M::Wire>
);
transparent!(
    M: BackupMap;
    /// `record { keys : vec K; next : opt K; walked : nat64 }`: where a map may be cut.
    SplitKeys = page::Splits<M::Wire>
);

/// `vec record { K; V }` as `restore_<name>` and `validate_<name>` take it
/// (read by [`decode_batch`]): the values decoded, or their stored bytes.
pub struct Batch<M: BackupMap>(BatchData<M>);

enum BatchData<M: BackupMap> {
    Values(Vec<(M::Wire, M::Value)>),
    /// The bytes each value is to be stored as ([`CandidBytes`](page::CandidBytes)),
    /// or why its decoder refused it.
    Stored(Vec<(M::Wire, restore::StoredValue)>),
}

impl<M: BackupMap> CandidType for Batch<M> {
    fn ty() -> Type {
        <Vec<(M::Wire, M::Value)>>::ty()
    }
    fn _ty() -> Type {
        <Vec<(M::Wire, M::Value)>>::_ty()
    }
    fn _ty_doc() -> candid::types::internal::TypeDoc {
        <Vec<(M::Wire, M::Value)>>::_ty_doc()
    }
    fn id() -> TypeId {
        <Vec<(M::Wire, M::Value)>>::id()
    }
    fn idl_serialize<S: Serializer>(&self, serializer: S) -> Result<(), S::Error> {
        match &self.0 {
            BatchData::Values(entries) => entries.idl_serialize(serializer),
            BatchData::Stored(_) => Err(serde::ser::Error::custom(
                "a restore batch read as stored bytes is not encoded again",
            )),
        }
    }
}

/// The `decode_with` of `restore_<name>` and `validate_<name>`: the batch,
/// or a trap that says what was expected.
pub fn decode_batch<M: BackupMap>(arg: Vec<u8>) -> Batch<M> {
    crate::__private::or_trap(M::decode_batch(&arg))
}

/// Traps with [`StaleHeap`](crate::raw::StaleHeap)'s message after a raw
/// write, until the upgrade: the first line of every typed endpoint.
pub fn fresh() {
    crate::__private::or_trap(crate::raw::check_heap_fresh());
}

/// The first lines of every map endpoint: the heap is fresh ([`fresh`]),
/// and the map's memory holds a map or nothing ([`check_memory`]); a trap
/// otherwise, before the map is opened.
fn opened<M: BackupMap>() {
    fresh();
    crate::__private::or_trap(check_memory::<M>());
}

/// Whether the map's memory holds a `StableBTreeMap` (or nothing yet):
/// `StableBTreeMap::init` makes a new map over anything else, which a
/// restore would then write over it, and over a stable memory that is not a
/// `MemoryManager` image the runtime's manager would write one. The error
/// names the memory and what it holds; nothing is read or written.
pub fn check_memory<M: BackupMap>() -> Result<(), String> {
    check_holds(
        M::MEMORY_ID,
        M::memory,
        M::RUNTIME_MANAGER,
        crate::image::MAP_MAGIC,
        "a StableBTreeMap",
    )
}

/// Whether memory `id` holds the structure whose magic is `magic` (`what`,
/// for messages), or nothing yet; with the runtime's manager, whether
/// stable memory is a `MemoryManager` image or empty. Reads three bytes of
/// each, writes nothing: `memory` is called only once stable memory is
/// known to hold something (opening the runtime's manager over an empty
/// stable memory would write its header).
pub fn check_holds<T: Memory>(
    id: u8,
    memory: impl FnOnce() -> T,
    runtime_manager: bool,
    magic: &[u8; 3],
    what: &str,
) -> Result<(), String> {
    use crate::image::magic_of;
    let Some(manager) = magic_of(&crate::memory::stable_memory()) else {
        return Ok(());
    };
    if runtime_manager && manager != *crate::image::MANAGER_MAGIC {
        return Err(format!(
            "{what} in memory {id} is not opened: stable memory is not a MemoryManager image ({}); nothing was read or written",
            crate::auth::describe(&manager)
        ));
    }
    match magic_of(&memory()) {
        Some(found) if found != *magic => Err(format!(
            "memory {id} holds {}, not {what}: the structure declared over it is not opened, and nothing was read or written (`ic-backup inspect` shows what each memory holds)",
            crate::auth::describe(&found)
        )),
        _ => Ok(()),
    }
}

/// `backup_<name>(offset, count)`: replies with the encoded page itself.
pub fn backup<M: BackupMap>(offset: u64, count: u64) -> Entries<M> {
    opened::<M>();
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

/// `backup_<name>_page(after, max_bytes, until)`: replies with the encoded
/// page itself.
pub fn backup_page<M: BackupMap>(
    after: Cursor<M>,
    max_bytes: Option<u64>,
    until: Cursor<M>,
) -> Page<M> {
    opened::<M>();
    let reply = PageLimits::with_max_bytes(max_bytes).and_then(|limits| {
        M::cursor_page(
            (after.0, until.0),
            limits,
            &crate::__private::instruction_counter,
        )
    });
    ic_cdk::api::msg_reply(crate::__private::or_trap(reply));
    Page::new(BackupPage {
        entries: Vec::new(),
        next: None,
        len: 0,
        skipped: Vec::new(),
    })
}

/// `backup_<name>_splits(after, parts)`: where a parallel backup may cut
/// the map ([`page::splits`]).
pub fn backup_splits<M: BackupMap>(
    after: Cursor<M>,
    parts: u64,
    walked: Option<u64>,
) -> SplitKeys<M> {
    opened::<M>();
    let splits = M::with(|map| {
        page::splits::<_, _, _, M::Codec>(
            &map.borrow(),
            after.0,
            parts,
            walked.unwrap_or(0),
            &crate::__private::instruction_counter,
        )
    });
    SplitKeys::new(crate::__private::or_trap(splits))
}

/// `restore_<name>(entries)`: every entry checked before the map is touched.
pub fn restore<M: BackupMap>(batch: Batch<M>) -> Result<u64, String> {
    opened::<M>();
    let v1 = v1_layout::<M>();
    match batch.0 {
        BatchData::Values(entries) => restore::check::<M::Key, M::Value, M::Codec>(entries, v1)
            .map(|checked| M::with(|map| restore::insert_all(&mut map.borrow_mut(), checked))),
        BatchData::Stored(entries) => {
            restore::check_stored::<M::Key, M::Codec>(entries, v1, M::Value::BOUND)
                .map(insert_stored::<M>)
        }
    }
    .map_err(|error| error.to_string())
}

/// Inserts values as their stored bytes: the map's memory opened as a map of
/// [`Stored`](page::Stored) values, then the map's static opened again over
/// it (it keeps the root and length it last read).
fn insert_stored<M: BackupMap>(checked: Vec<(M::Key, Vec<u8>)>) -> u64 {
    M::with(|map| {
        let mut map = map.borrow_mut();
        let mut stored =
            StableBTreeMap::<M::Key, page::Stored<M::Value>, M::Memory>::load(M::memory());
        let count = checked.len() as u64;
        for (key, bytes) in restore::spread(checked) {
            stored.insert(key, page::Stored::new(bytes));
        }
        drop(stored);
        *map = StableBTreeMap::load(M::memory());
        count
    })
}

/// `validate_<name>(entries)`: the checks of `restore_<name>`, writing nothing.
pub fn validate<M: BackupMap>(batch: Batch<M>) -> Result<u64, String> {
    opened::<M>();
    let v1 = v1_layout::<M>();
    match batch.0 {
        BatchData::Values(entries) => restore::validate::<M::Key, M::Value, M::Codec>(entries, v1),
        BatchData::Stored(entries) => {
            restore::check_stored::<M::Key, M::Codec>(entries, v1, M::Value::BOUND)
                .map(|checked| checked.len() as u64)
        }
    }
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
    opened::<M>();
    M::with(|map| restore::clear(&mut map.borrow_mut(), M::memory()))
}

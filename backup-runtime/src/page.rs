//! Backup pages that never exceed the reply limit.
//!
//! Entries are Candid-encoded one by one into the reply as the map is walked,
//! so the page knows its exact size at every step and stops before the byte
//! budget; each entry is encoded once, and the endpoint sends the bytes as
//! they are (`manual_reply`). A page also stops before the instruction
//! budget, so a map of large values cannot run a query into the 5 B limit.
//! A page always carries at least one entry, unless that entry alone is over
//! [`MAX_PAGE_BYTES`], which is an error: the
//! caller would otherwise loop forever on an empty page.

use crate::key::KeyCodec;
use crate::limits::{
    DEFAULT_PAGE_BYTES, MAX_ENTRY_BYTES, MAX_PAGE_BYTES, MAX_SPLITS, PAGE_INSTRUCTIONS,
    SPLIT_INSTRUCTIONS,
};
use candid::ser::ValueSerializer;
use candid::{CandidType, Deserialize};
use ic_stable_structures::{Memory, StableBTreeMap, Storable};
use serde::de::DeserializeOwned;
use std::fmt;
use std::ops::Bound;

/// A page of a map's backup, in key order.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
pub struct BackupPage<K, V> {
    /// Entries in key order, after the cursor.
    pub entries: Vec<(K, V)>,
    /// The cursor for the next page (the last key this page walked, carried
    /// or skipped), or null when this page reaches the end of the map.
    pub next: Option<K>,
    /// The number of entries in the whole map, for progress reports.
    pub len: u64,
    /// Keys of entries this page walked past without carrying them, because
    /// one entry alone would not fit a restore call (the 2 MiB ingress
    /// limit). They are still in the map and in a raw dump; a client must
    /// report them, since the backup is not whole without them.
    pub skipped: Vec<K>,
}

/// How much one page may carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageLimits {
    /// Bytes of encoded entries.
    pub max_bytes: u64,
    /// Instructions used by the call, as `ic0.performance_counter` counts them.
    pub max_instructions: u64,
}

impl Default for PageLimits {
    fn default() -> Self {
        PageLimits {
            max_bytes: DEFAULT_PAGE_BYTES,
            max_instructions: PAGE_INSTRUCTIONS,
        }
    }
}

impl PageLimits {
    /// The limits for a caller's `max_bytes`, which must be between 1 and
    /// [`MAX_PAGE_BYTES`]; `None` means [`DEFAULT_PAGE_BYTES`].
    pub fn with_max_bytes(max_bytes: Option<u64>) -> Result<Self, PageError> {
        match max_bytes {
            None => Ok(PageLimits::default()),
            Some(0) => Err(PageError::BadBudget { asked: 0 }),
            Some(asked) if asked > MAX_PAGE_BYTES => Err(PageError::BadBudget { asked }),
            Some(max_bytes) => Ok(PageLimits {
                max_bytes,
                ..PageLimits::default()
            }),
        }
    }
}

/// Why a page could not be made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PageError {
    /// `max_bytes` outside `1..=MAX_PAGE_BYTES`.
    BadBudget { asked: u64 },
    /// The cursor key did not convert back to a map key.
    BadCursor(String),
    /// The key `until` did not convert back to a map key.
    BadUntil(String),
    /// `parts` outside `1..=MAX_SPLITS`.
    BadParts { asked: u64 },
    /// `walked` (keys walked since the last cut) not below the span's length.
    BadWalked { walked: u64, every: u64 },
    /// A key whose text (`KeyText`) does not parse back to the key: a
    /// cursor or cut made of it would skip or repeat entries.
    KeyTextNotOwn { text: String, why: String },
    /// One entry alone is too large for a restore call, and this page has no
    /// way to skip it.
    EntryTooLarge { position: String, bytes: usize },
    /// Candid refused to encode an entry.
    Encode(String),
}

impl fmt::Display for PageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PageError::BadBudget { asked } => {
                write!(f, "expected max_bytes between 1 and {MAX_PAGE_BYTES}, found {asked}")
            }
            PageError::BadCursor(error) => write!(f, "bad cursor `after`: {error}"),
            PageError::BadUntil(error) => write!(f, "bad end key `until`: {error}"),
            PageError::BadParts { asked } => {
                write!(f, "expected parts between 1 and {MAX_SPLITS}, found {asked}")
            }
            PageError::KeyTextNotOwn { text, why } => write!(
                f,
                "the key whose text is `{text}` does not come back from it ({why}): `KeyText` must give each key one text that parses to that key, or a backup would skip or repeat entries; this page is refused"
            ),
            PageError::BadWalked { walked, every } => write!(
                f,
                "expected `walked` below {every} (the keys of a span, as the last reply gave it), found {walked}"
            ),
            PageError::EntryTooLarge { position, bytes } => write!(
                f,
                "the entry {position} encodes to {bytes} bytes: with the argument's header that is over the {MAX_ENTRY_BYTES} bytes one restore call can carry, so it would be backed up in a form restore cannot take back. The cursor endpoint `backup_<name>_page` skips such entries and names them; back this one up through raw stable memory (a dump)"
            ),
            PageError::Encode(error) => write!(f, "cannot encode an entry as Candid: {error}"),
        }
    }
}

impl std::error::Error for PageError {}

/// Entries encoded as Candid values, ready to be framed as a reply.
struct Encoded<K> {
    count: u64,
    values: Vec<u8>,
    /// Keys of entries too large to restore, encoded as Candid values.
    skipped_count: u64,
    skipped: Vec<u8>,
    /// The last key walked, kept or skipped: where the next page starts.
    last_key: Option<K>,
    /// True when the walk reached the end of the map.
    at_end: bool,
}

impl<K> Encoded<K> {
    /// No entries, at the end of the map.
    fn empty() -> Self {
        Encoded {
            count: 0,
            values: Vec::new(),
            skipped_count: 0,
            skipped: Vec::new(),
            last_key: None,
            at_end: true,
        }
    }
}

/// What to do with an entry too large for one restore call.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TooLarge {
    /// Leave it out and name its key (the cursor page).
    Skip,
    /// Refuse the page (the offset page, whose reply has no room to say so).
    Refuse,
}

/// Appends the Candid value bytes of a stored value to a page.
type ValuePart<'a, S> = &'a dyn Fn(S, &mut Vec<u8>) -> Result<(), PageError>;

/// Appends the Candid value bytes of `value` to `out`.
fn append_value<T: CandidType>(value: &T, out: &mut Vec<u8>) -> Result<(), PageError> {
    let mut serializer = ValueSerializer::new();
    value
        .idl_serialize(&mut serializer)
        .map_err(|error| PageError::Encode(error.to_string()))?;
    out.extend_from_slice(serializer.get_result());
    Ok(())
}

fn encode_value<T: CandidType>(value: &T) -> Result<Vec<u8>, PageError> {
    let mut serializer = ValueSerializer::new();
    value
        .idl_serialize(&mut serializer)
        .map_err(|error| PageError::Encode(error.to_string()))?;
    Ok(serializer.get_result().to_vec())
}

/// What a page walks: a map's entries in key order (each value read only
/// when the page carries it), or the entries of an indexed structure.
pub(crate) trait Walk<K, S> {
    /// Calls `f` with the next entry's key and a reader of its value;
    /// `None` past the last entry.
    fn walk_next<R>(&mut self, f: impl FnOnce(&K, &dyn Fn() -> S) -> R) -> Option<R>;
}

impl<K, V, M> Walk<K, V> for ic_stable_structures::btreemap::Iter<'_, K, V, M>
where
    K: Storable + Ord + Clone,
    V: Storable,
    M: Memory,
{
    fn walk_next<R>(&mut self, f: impl FnOnce(&K, &dyn Fn() -> V) -> R) -> Option<R> {
        let entry = self.next()?;
        Some(f(entry.key(), &|| entry.value()))
    }
}

/// The entries `next..end` of an indexed structure, each value read by
/// `read` (which the walk calls only below the length it was given).
pub(crate) struct Indexed<'a, S> {
    pub next: u64,
    pub end: u64,
    pub read: &'a dyn Fn(u64) -> S,
}

impl<S> Walk<u64, S> for Indexed<'_, S> {
    fn walk_next<R>(&mut self, f: impl FnOnce(&u64, &dyn Fn() -> S) -> R) -> Option<R> {
        if self.next >= self.end {
            return None;
        }
        let index = self.next;
        self.next += 1;
        Some(f(&index, &|| (self.read)(index)))
    }
}

/// Walks `entries`, encoding each once, until the byte or instruction budget
/// or `max_count` is reached. An entry whose restore argument (`restore_header`
/// bytes, a count, the entry) would not fit [`MAX_ENTRY_BYTES`] is never put
/// in a page: a backup must not hold what restore cannot take back.
#[allow(clippy::too_many_arguments)]
fn encode_entries<K, V, C>(
    mut entries: impl Walk<K, V>,
    max_count: u64,
    limits: PageLimits,
    instructions: &dyn Fn() -> u64,
    restore_header: usize,
    too_large: TooLarge,
    position: impl Fn(Option<String>) -> String,
    value_part: ValuePart<V>,
) -> Result<Encoded<K>, PageError>
where
    K: Clone,
    C: KeyCodec<K>,
    C::Wire: CandidType,
{
    let mut out = Encoded::empty();
    // Room for the whole budget up front: a vector that grows copies what
    // it holds each time, a copy of every value the page carries.
    out.values
        .reserve(usize::try_from(limits.max_bytes.min(MAX_PAGE_BYTES)).unwrap_or(0));
    // The walk goes on while each entry says so (`Ok(true)`).
    while let Some(go_on) = entries.walk_next(|key, value| -> Result<bool, PageError> {
        let walked = out.count + out.skipped_count;
        if out.count == max_count || (walked > 0 && instructions() >= limits.max_instructions) {
            out.at_end = false;
            return Ok(false);
        }
        let wire = C::to_wire(key);
        // A record { K; V } is its fields in order: the key, then the value,
        // written where the page's values go and taken back if they do not
        // fit (the value's bytes are copied once, not once per buffer).
        let used = (out.values.len() + out.skipped.len()) as u64;
        let start = out.values.len();
        append_value(&wire, &mut out.values)?;
        value_part(value(), &mut out.values)?;
        let encoded = out.values.len() - start;
        if (restore_header + 1 + encoded) as u64 > MAX_ENTRY_BYTES {
            out.values.truncate(start);
            if too_large == TooLarge::Refuse {
                return Err(PageError::EntryTooLarge {
                    position: position(C::describe(&wire)),
                    bytes: encoded,
                });
            }
            let skipped_key = encode_value(&wire)?;
            if walked > 0 && used + skipped_key.len() as u64 > limits.max_bytes {
                out.at_end = false;
                return Ok(false);
            }
            out.skipped.extend_from_slice(&skipped_key);
            out.skipped_count += 1;
        } else {
            // A page always carries the first entry it reaches, so the
            // cursor moves even when one entry is over the caller's budget.
            if walked > 0 && used + encoded as u64 > limits.max_bytes {
                out.values.truncate(start);
                out.at_end = false;
                return Ok(false);
            }
            out.count += 1;
        }
        out.last_key = Some(key.clone());
        Ok(true)
    }) {
        if !go_on? {
            break;
        }
    }
    Ok(out)
}

/// The Candid header (magic, type table, argument types) of a message whose
/// single argument is a `T` ([`crate::canonical::header_of`]).
fn header_of<T: CandidType>() -> Result<Vec<u8>, PageError> {
    crate::canonical::header_of::<T>().map_err(|error| PageError::Encode(error.to_string()))
}

use crate::canonical::Shape;
use backup_common::leb128::push as push_leb128;

/// The reply of `backup_<name>(offset, count)`, as Candid bytes of
/// `vec record { K; V }`: up to `count` entries from position `offset`,
/// fewer when the budget is reached; empty past the end.
pub fn encode_offset_page<K, V, M, C>(
    map: &StableBTreeMap<K, V, M>,
    offset: u64,
    count: u64,
    limits: PageLimits,
    instructions: &dyn Fn() -> u64,
) -> Result<Vec<u8>, PageError>
where
    K: Storable + Ord + Clone,
    V: Storable + CandidType,
    M: Memory,
    C: KeyCodec<K>,
    C::Wire: CandidType,
{
    let mut entries = map.iter();
    if offset > 0 && offset < map.len() {
        // `nth` on the lazy iterator walks keys without decoding values.
        entries.nth(usize::try_from(offset - 1).unwrap_or(usize::MAX));
    }
    offset_reply::<K, V, C>(
        (offset < map.len()).then_some(entries),
        offset,
        count,
        limits,
        instructions,
    )
}

/// The offset page of `entries` (from position `offset`; `None` past the
/// end), as Candid bytes of `vec record { K; V }`.
pub(crate) fn offset_reply<K, V, C>(
    entries: Option<impl Walk<K, V>>,
    offset: u64,
    count: u64,
    limits: PageLimits,
    instructions: &dyn Fn() -> u64,
) -> Result<Vec<u8>, PageError>
where
    K: Clone,
    V: CandidType,
    C: KeyCodec<K>,
    C::Wire: CandidType,
{
    let encoded = match entries {
        None => Encoded::empty(),
        Some(entries) => {
            let position = |key: Option<String>| match key {
                Some(key) => format!("`{key}` (at or after offset {offset})"),
                None => format!("at or after offset {offset}"),
            };
            let header = header_of::<Vec<(C::Wire, V)>>()?.len();
            encode_entries::<K, V, C>(
                entries,
                count,
                limits,
                instructions,
                header,
                TooLarge::Refuse,
                position,
                &|value, out| append_value(&value, out),
            )?
        }
    };
    let mut reply = header_of::<Vec<(C::Wire, V)>>()?;
    push_leb128(&mut reply, encoded.count);
    reply.extend_from_slice(&encoded.values);
    Ok(reply)
}

/// The reply of `backup_<name>_page(after, max_bytes, until)`, as Candid
/// bytes of [`BackupPage`]: the entries after the key `after` (from the
/// start when `None`) up to and including the key `until` (to the end when
/// `None`), as many as the budget allows; `next` is null when the page
/// reaches past `until` or the end.
pub fn encode_cursor_page<K, V, M, C>(
    map: &StableBTreeMap<K, V, M>,
    after: Option<C::Wire>,
    until: Option<C::Wire>,
    limits: PageLimits,
    instructions: &dyn Fn() -> u64,
) -> Result<Vec<u8>, PageError>
where
    K: Storable + Ord + Clone,
    V: Storable + CandidType,
    M: Memory,
    C: KeyCodec<K>,
    C::Wire: CandidType,
{
    cursor_page_of::<K, V, V, M, C>(map, (after, until), limits, instructions, &|value, out| {
        append_value(&value, out)
    })
}

/// A value whose `Storable` bytes are exactly its Candid encoding
/// (`candid::encode_one(&value)`): backup pages put the stored bytes in the
/// reply as they are, without decoding and encoding them again, and
/// restores store the values' bytes from the message. Implement it (an
/// empty impl) only where that holds.
///
/// What it promises, for any value type:
/// - **Pages**: each stored value is checked to be the type's own Candid
///   header followed by exactly one value of the type ([`Shape::accepts`]:
///   its structure, lengths, UTF-8, tags); one that is not is decoded and
///   encoded as usual, so a damaged value traps in `from_bytes` as before.
/// - **Restores**: every value of a batch is decoded by the type's own
///   `Deserialize` before anything is written, so a value the canister
///   could not read back (a 3-byte blob for a `[u8; 32]`, a `try_from`
///   check, an overflowing `Duration`) is refused, naming the entry and the
///   decoder's message; and the type's own encoding of what was decoded is
///   compared with the bytes sent, so a type whose `Deserialize` normalises
///   (a `BTreeMap` given a key twice or out of order, a `Duration` whose
///   nanoseconds pass a second) is stored as the canister itself would
///   write it, not as sent. This check costs about 18,700 instructions per
///   ~100 B value (decoding 15,800, encoding the batch 2,800).
///
/// What it does not do: pages splice what is stored, so values written by
/// the canister itself before this check (or by a build whose type was
/// wider) are backed up as they are. For a type whose `to_bytes` is not
/// `candid::encode_one` (a custom layout, compression), leave it out: the
/// decoding path (decode and encode every value) is the one for it.
pub trait CandidBytes: CandidType + Storable {}

/// A value as stored: its `Storable` bytes, untouched, with `V`'s bound so
/// that a map of `V` can be opened as a map of these.
pub struct Stored<V> {
    bytes: Vec<u8>,
    value: std::marker::PhantomData<V>,
}

impl<V> Stored<V> {
    /// `bytes`, which must be what `V::to_bytes` writes for some value.
    pub fn new(bytes: Vec<u8>) -> Self {
        Stored {
            bytes,
            value: std::marker::PhantomData,
        }
    }
}

impl<V: Storable> Storable for Stored<V> {
    fn to_bytes(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Borrowed(&self.bytes)
    }

    fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    fn from_bytes(bytes: std::borrow::Cow<[u8]>) -> Self {
        Stored {
            bytes: bytes.into_owned(),
            value: std::marker::PhantomData,
        }
    }

    const BOUND: ic_stable_structures::storable::Bound = V::BOUND;
}

/// [`encode_cursor_page`] for a map of [`CandidBytes`] values in `memory`:
/// the same reply, each value's Candid taken from its stored bytes.
pub fn encode_cursor_page_spliced<K, V, M, C>(
    memory: M,
    after: Option<C::Wire>,
    until: Option<C::Wire>,
    limits: PageLimits,
    instructions: &dyn Fn() -> u64,
) -> Result<Vec<u8>, PageError>
where
    K: Storable + Ord + Clone,
    V: CandidBytes,
    M: Memory,
    C: KeyCodec<K>,
    C::Wire: CandidType,
{
    let map = StableBTreeMap::<K, Stored<V>, M>::load(memory);
    // The header `candid::encode_one` writes for `V` (found from the type
    // alone) and the types it declares. A value is spliced when it is that
    // header and then exactly a value of those types, at any depth; any
    // other is decoded (a damaged one traps in `V::from_bytes`, as it
    // always did).
    let own = header_of::<V>()
        .ok()
        .and_then(|header| Shape::parse(&header).map(|shape| (header, shape)));
    let span = (after, until);
    cursor_page_of::<K, Stored<V>, V, M, C>(&map, span, limits, instructions, &|stored, out| {
        if let Some((header, shape)) = &own {
            if let Some(value) = stored.bytes.strip_prefix(header.as_slice()) {
                if shape.accepts(value) {
                    out.extend_from_slice(value);
                    return Ok(());
                }
            }
        }
        let value = V::from_bytes(std::borrow::Cow::Borrowed(&stored.bytes));
        append_value(&value, out)
    })
}

/// The bound a key given on the wire sets (`bound` of the key; none when
/// `None`), or `error` of why the key does not convert back.
fn bound_of<K, C: KeyCodec<K>>(
    wire: Option<C::Wire>,
    bound: fn(K) -> Bound<K>,
    error: fn(String) -> PageError,
) -> Result<Bound<K>, PageError> {
    wire.map_or(Ok(Bound::Unbounded), |wire| {
        C::from_wire(wire).map(bound).map_err(error)
    })
}

/// `key` as it travels, checked to come back as `key`: a cursor or a cut
/// that parsed to another key would skip or repeat entries.
fn own_wire<K, C>(key: &K) -> Result<C::Wire, PageError>
where
    K: Ord,
    C: KeyCodec<K>,
{
    let described = || C::describe(&C::to_wire(key)).unwrap_or_else(|| "(not text)".into());
    match C::from_wire(C::to_wire(key)) {
        Ok(parsed) if parsed == *key => Ok(C::to_wire(key)),
        Ok(_) => Err(PageError::KeyTextNotOwn {
            text: described(),
            why: "it parses to another key".into(),
        }),
        Err(why) => Err(PageError::KeyTextNotOwn {
            text: described(),
            why,
        }),
    }
}

/// The cursor page of `map` over the keys after `span.0` up to and
/// including `span.1`, whose values `value_part` turns into the Candid value bytes of
/// `V` (the type the reply declares).
fn cursor_page_of<K, S, V, M, C>(
    map: &StableBTreeMap<K, S, M>,
    (after, until): (Option<C::Wire>, Option<C::Wire>),
    limits: PageLimits,
    instructions: &dyn Fn() -> u64,
    value_part: ValuePart<S>,
) -> Result<Vec<u8>, PageError>
where
    K: Storable + Ord + Clone,
    S: Storable,
    V: CandidType,
    M: Memory,
    C: KeyCodec<K>,
    C::Wire: CandidType,
{
    let start = bound_of::<K, C>(after, Bound::Excluded, PageError::BadCursor)?;
    let end = bound_of::<K, C>(until, Bound::Included, PageError::BadUntil)?;
    // A span that holds no key (`until` at or before `after`) is walked as
    // the keys after `after` up to `after` itself: none.
    let end = match (&start, end) {
        (Bound::Excluded(after), Bound::Included(until)) if until <= *after => {
            Bound::Included(after.clone())
        }
        (_, end) => end,
    };
    cursor_reply::<K, S, V, C>(
        map.range((start, end)),
        map.len(),
        limits,
        instructions,
        value_part,
    )
}

/// The cursor page of `entries` (the span a page may carry, in key order)
/// of a structure of `len` entries, as Candid bytes of [`BackupPage`].
pub(crate) fn cursor_reply<K, S, V, C>(
    entries: impl Walk<K, S>,
    len: u64,
    limits: PageLimits,
    instructions: &dyn Fn() -> u64,
    value_part: ValuePart<S>,
) -> Result<Vec<u8>, PageError>
where
    K: Ord + Clone,
    V: CandidType,
    C: KeyCodec<K>,
    C::Wire: CandidType,
{
    let restore_header = header_of::<Vec<(C::Wire, V)>>()?.len();
    let encoded = encode_entries::<K, S, C>(
        entries,
        u64::MAX,
        limits,
        instructions,
        restore_header,
        TooLarge::Skip,
        |_| String::new(),
        value_part,
    )?;

    let mut reply = header_of::<BackupPage<C::Wire, V>>()?;
    // A record's fields travel in the order of their Candid field ids; each
    // is written in parts, so the page's values are copied once more only.
    let encode = |error: candid::Error| PageError::Encode(error.to_string());
    let mut entries_count = Vec::new();
    push_leb128(&mut entries_count, encoded.count);
    let next = match (&encoded.last_key, encoded.at_end) {
        (Some(key), false) => Some(own_wire::<K, C>(key)?),
        _ => None,
    };
    let mut next_value = ValueSerializer::new();
    next.idl_serialize(&mut next_value).map_err(encode)?;
    let mut skipped_count = Vec::new();
    push_leb128(&mut skipped_count, encoded.skipped_count);
    let len = len.to_le_bytes();
    let mut fields: [(u32, [&[u8]; 2]); 4] = [
        (
            candid::idl_hash("entries"),
            [&entries_count, &encoded.values],
        ),
        (candid::idl_hash("next"), [next_value.get_result(), &[]]),
        (candid::idl_hash("len"), [&len, &[]]),
        (
            candid::idl_hash("skipped"),
            [&skipped_count, &encoded.skipped],
        ),
    ];
    sort_fields(&mut fields);
    let parts = fields.iter().flat_map(|(_, parts)| parts.iter());
    reply.reserve(parts.clone().map(|part| part.len()).sum());
    for part in parts {
        reply.extend_from_slice(part);
    }
    Ok(reply)
}

/// Sorts a page record's fields by their Candid ids. Not generic: a sort
/// written in a generic function is compiled again for every map's types
/// (std's sort is large), this one once per canister.
fn sort_fields(fields: &mut [(u32, [&[u8]; 2])]) {
    fields.sort_by_key(|(id, _)| *id);
}

/// Where a parallel backup may cut a map: `keys` in order, each the last key
/// of one part (never the map's last key), so that the spans `(.., keys[0]]`,
/// `(keys[0], keys[1]]`, …, `(keys[last], ..)` cover the map, each about
/// `len / parts` entries. `next` is where the walk stopped at its budget
/// (ask again with `after` set to it and `walked` as given), null when it
/// reached the end; `walked` is how many keys of the span in progress the
/// walk had passed, `next` included.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
pub struct Splits<K> {
    pub keys: Vec<K>,
    pub next: Option<K>,
    pub walked: u64,
}

/// How many keys a splits walk passes between two looks at its budget.
const KEYS_BETWEEN_CHECKS: u64 = 64;

/// The reply of `backup_<name>_splits(after, parts, walked)`: the keys that
/// cut the entries after `after` into spans of `ceil(len / parts)` entries,
/// `walked` of the first span already passed by an earlier call, walked key
/// by key (values are not read) until the end of the map or the
/// instruction budget [`SPLIT_INSTRUCTIONS`], which it checks after every
/// cut and every `KEYS_BETWEEN_CHECKS` (64) keys, at any map size. Called
/// again from where it stopped, it gives the cuts one unlimited walk gives.
pub fn splits<K, V, M, C>(
    map: &StableBTreeMap<K, V, M>,
    after: Option<C::Wire>,
    parts: u64,
    walked: u64,
    instructions: &dyn Fn() -> u64,
) -> Result<Splits<C::Wire>, PageError>
where
    K: Storable + Ord + Clone,
    V: Storable,
    M: Memory,
    C: KeyCodec<K>,
    C::Wire: CandidType,
{
    if !(1..=MAX_SPLITS).contains(&parts) {
        return Err(PageError::BadParts { asked: parts });
    }
    let every = map.len().div_ceil(parts).max(1);
    if walked >= every {
        return Err(PageError::BadWalked { walked, every });
    }
    let start = bound_of::<K, C>(after, Bound::Excluded, PageError::BadCursor)?;
    let mut entries = map.range((start, Bound::Unbounded)).peekable();
    let (mut keys, mut bytes) = (Vec::new(), 0u64);
    // The last cut, to go on from when the reply is full.
    let mut cut = None::<C::Wire>;
    let (mut count, mut since_check) = (walked, 0);
    while let Some(entry) = entries.next() {
        count += 1;
        since_check += 1;
        let stop = |keys, count| -> Result<Splits<C::Wire>, PageError> {
            Ok(Splits {
                keys,
                next: Some(own_wire::<K, C>(entry.key())?),
                walked: count,
            })
        };
        if count == every {
            // The map's last key would cut off an empty span.
            if entries.peek().is_none() {
                break;
            }
            let wire = own_wire::<K, C>(entry.key())?;
            let size = encode_value(&wire)?.len() as u64;
            if !keys.is_empty() && bytes + size > DEFAULT_PAGE_BYTES {
                // The reply is full: go on from the last cut it holds.
                return Ok(Splits {
                    keys,
                    next: cut,
                    walked: 0,
                });
            }
            bytes += size;
            cut = Some(own_wire::<K, C>(entry.key())?);
            keys.push(wire);
            count = 0;
            since_check = 0;
            if instructions() >= SPLIT_INSTRUCTIONS {
                return stop(keys, 0);
            }
        } else if since_check >= KEYS_BETWEEN_CHECKS {
            since_check = 0;
            if instructions() >= SPLIT_INSTRUCTIONS {
                return stop(keys, count);
            }
        }
    }
    Ok(Splits {
        keys,
        next: None,
        walked: 0,
    })
}

/// [`encode_offset_page`], decoded: for native use and tests.
pub fn offset_page<K, V, M, C>(
    map: &StableBTreeMap<K, V, M>,
    offset: u64,
    count: u64,
    limits: PageLimits,
) -> Result<Vec<(C::Wire, V)>, PageError>
where
    K: Storable + Ord + Clone,
    V: Storable + CandidType + DeserializeOwned,
    M: Memory,
    C: KeyCodec<K>,
    C::Wire: CandidType + DeserializeOwned,
{
    let reply = encode_offset_page::<K, V, M, C>(map, offset, count, limits, &|| 0)?;
    candid::decode_one(&reply).map_err(|error| PageError::Encode(error.to_string()))
}

/// [`encode_cursor_page`], decoded: for native use and tests.
pub fn cursor_page<K, V, M, C>(
    map: &StableBTreeMap<K, V, M>,
    after: Option<C::Wire>,
    limits: PageLimits,
) -> Result<BackupPage<C::Wire, V>, PageError>
where
    K: Storable + Ord + Clone,
    V: Storable + CandidType + DeserializeOwned,
    M: Memory,
    C: KeyCodec<K>,
    C::Wire: CandidType + DeserializeOwned,
{
    let reply = encode_cursor_page::<K, V, M, C>(map, after, None, limits, &|| 0)?;
    candid::decode_one(&reply).map_err(|error| PageError::Encode(error.to_string()))
}

//! The bodies of the generated endpoints of the indexed structures:
//! `StableVec`, `StableLog`, `StableMinHeap` and `StableCell`.
//!
//! Each travels as a map from its index (`nat64`) to its values, so its
//! endpoints have the maps' shapes (offset and cursor pages bounded by bytes
//! and instructions, splits for a parallel backup, restore and validate of
//! `vec record { nat64; V }`, clear) and a client backs them up and restores
//! them as it does a map. What an index may receive differs by kind:
//!
//! - a vec sets the value at an index below its length and appends at its
//!   length;
//! - a log and a min-heap only grow at their end: an index below the length
//!   must carry the value already there (a restore resumed after a batch
//!   landed), and a heap's new value must keep its place (its parent is not
//!   greater), so that the heap restored is the heap backed up;
//! - a cell has one index, 0, which sets its value.
//!
//! Every check runs before anything is written, so a refused batch changes
//! nothing.

use crate::key::CandidKey;
use crate::limits::MAX_SPLITS;
use crate::page::{self, BackupPage, Indexed, PageError, PageLimits, Splits};
use candid::types::{Serializer, Type, TypeId};
use candid::CandidType;
use ic_stable_structures::storable::Bound;
use ic_stable_structures::{Memory, StableCell, StableLog, StableMinHeap, StableVec, Storable};
use serde::de::DeserializeOwned;
use std::cell::RefCell;
use std::fmt;

/// The kind of an indexed structure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeqKind {
    Vec,
    Log,
    MinHeap,
    Cell,
}

impl SeqKind {
    /// The kind's name in messages and in `backup_structures`.
    pub fn name(self) -> &'static str {
        match self {
            SeqKind::Vec => "vec",
            SeqKind::Log => "log",
            SeqKind::MinHeap => "min-heap",
            SeqKind::Cell => "cell",
        }
    }

    /// Whether an index below the length keeps its value (a log, a heap).
    fn append_only(self) -> bool {
        matches!(self, SeqKind::Log | SeqKind::MinHeap)
    }
}

/// One indexed structure of ic-stable-structures, as its endpoints use it.
#[allow(clippy::len_without_is_empty)]
pub trait Seq<V> {
    const KIND: SeqKind;
    /// The magic of each of its memories (a log's index, then its data).
    const MAGICS: &'static [[u8; 3]];
    /// The type's name, for messages.
    const WHAT: &'static str;

    fn len(&self) -> u64;
    /// The value at `index`, below [`len`](Seq::len).
    fn get(&self, index: u64) -> Option<V>;
    /// Writes `value` at `index`: below the length (a vec, a cell) or at it.
    fn put(&mut self, index: u64, value: V);
    /// Whether `value` at `index` keeps its place, its parent (if any)
    /// being `parent`: only a heap has an order to keep.
    fn keeps_place(_value: &V, _parent: &V) -> bool {
        true
    }
}

impl<V: Storable, M: Memory> Seq<V> for StableVec<V, M> {
    const KIND: SeqKind = SeqKind::Vec;
    const MAGICS: &'static [[u8; 3]] = &[*b"SVC"];
    const WHAT: &'static str = "a StableVec";

    fn len(&self) -> u64 {
        StableVec::len(self)
    }
    fn get(&self, index: u64) -> Option<V> {
        StableVec::get(self, index)
    }
    fn put(&mut self, index: u64, value: V) {
        if index < StableVec::len(self) {
            self.set(index, &value);
        } else {
            self.push(&value);
        }
    }
}

impl<V: Storable, I: Memory, D: Memory> Seq<V> for StableLog<V, I, D> {
    const KIND: SeqKind = SeqKind::Log;
    const MAGICS: &'static [[u8; 3]] = &[*b"GLI", *b"GLD"];
    const WHAT: &'static str = "a StableLog";

    fn len(&self) -> u64 {
        StableLog::len(self)
    }
    fn get(&self, index: u64) -> Option<V> {
        StableLog::get(self, index)
    }
    fn put(&mut self, _index: u64, value: V) {
        if let Err(error) = self.append(&value) {
            ic_cdk::trap(format!(
                "cannot append to the log: {error:?}; the call is rolled back"
            ));
        }
    }
}

impl<V: Storable + PartialOrd, M: Memory> Seq<V> for StableMinHeap<V, M> {
    const KIND: SeqKind = SeqKind::MinHeap;
    const MAGICS: &'static [[u8; 3]] = &[*b"SMH"];
    const WHAT: &'static str = "a StableMinHeap";

    fn len(&self) -> u64 {
        StableMinHeap::len(self)
    }
    fn get(&self, index: u64) -> Option<V> {
        // The heap's iterator reads its vector, and skips without reading.
        self.iter().nth(usize::try_from(index).ok()?)
    }
    fn put(&mut self, _index: u64, value: V) {
        self.push(&value);
    }
    fn keeps_place(value: &V, parent: &V) -> bool {
        // `push` moves a value up while it is less than its parent.
        value.partial_cmp(parent) != Some(std::cmp::Ordering::Less)
    }
}

impl<V: Storable, M: Memory> Seq<V> for StableCell<V, M> {
    const KIND: SeqKind = SeqKind::Cell;
    const MAGICS: &'static [[u8; 3]] = &[*b"SCL"];
    const WHAT: &'static str = "a StableCell";

    fn len(&self) -> u64 {
        1
    }
    fn get(&self, index: u64) -> Option<V> {
        // The cell lends its value; a copy is its own bytes read back.
        (index == 0).then(|| V::from_bytes(StableCell::get(self).to_bytes()))
    }
    fn put(&mut self, _index: u64, value: V) {
        self.set(value);
    }
}

/// One indexed structure of a `#[derive(Backupable)]` struct, as its
/// endpoints see it; the derive implements it on a marker type, as it does
/// [`BackupMap`](crate::endpoint::BackupMap) for a map.
pub trait BackupSeq: Sized + 'static {
    /// The values, which travel as their own Candid type.
    type Value: Storable + CandidType + DeserializeOwned;
    /// The structure (`StableVec<Value, M>`, ...).
    type Structure: Seq<Self::Value>;

    /// Whether its memories are empty: nothing was ever written, and the
    /// static, whose creation writes a header, is not touched to read
    /// nothing (so a refused batch writes nothing).
    fn untouched() -> bool;

    /// Whether each memory holds the structure (or nothing yet), through
    /// [`check_holds`](crate::endpoint::check_holds) with
    /// [`Seq::MAGICS`].
    fn check_memory() -> Result<(), String>;

    /// Runs `f` on the structure's static.
    fn with<R>(f: impl FnOnce(&RefCell<Self::Structure>) -> R) -> R;

    /// An empty structure over its memory (a cell holds its initial value),
    /// for `clear_<name>`.
    fn empty() -> Self::Structure;
}

fn kind<S: BackupSeq>() -> SeqKind {
    <S::Structure as Seq<S::Value>>::KIND
}

transparent!(
    S: BackupSeq;
    /// `vec record { nat64; V }`: a restore batch, or an offset page.
    Entries = Vec<(u64, S::Value)>
);
transparent!(
    S: BackupSeq;
    /// `record { entries; next; len; skipped }`: a cursor page.
    Page = BackupPage<u64, S::Value>
);
transparent!(
    S: BackupSeq;
    /// `record { keys : vec nat64; next : opt nat64; walked : nat64 }`.
    SplitKeys = Splits<u64>
);

/// The first lines of every endpoint: the heap is fresh, and each memory
/// holds the structure or nothing; a trap otherwise, before it is opened.
fn opened<S: BackupSeq>() {
    crate::endpoint::fresh();
    crate::__private::or_trap(S::check_memory());
}

/// The structure's length, and a reader of its values.
fn with_values<S: BackupSeq, R>(f: impl FnOnce(u64, &dyn Fn(u64) -> S::Value) -> R) -> R {
    if S::untouched() && kind::<S>() != SeqKind::Cell {
        return f(0, &|_| {
            unreachable!("an empty structure has no index to read")
        });
    }
    S::with(|structure| {
        let structure = structure.borrow();
        let len = structure.len();
        let read = |index: u64| {
            structure.get(index).unwrap_or_else(|| {
                ic_cdk::trap(format!(
                    "index {index} of {len} cannot be read from {}",
                    <S::Structure as Seq<S::Value>>::WHAT
                ))
            })
        };
        f(len, &read)
    })
}

fn append_value(value: &impl CandidType, out: &mut Vec<u8>) -> Result<(), PageError> {
    let mut serializer = candid::ser::ValueSerializer::new();
    value
        .idl_serialize(&mut serializer)
        .map_err(|error| PageError::Encode(error.to_string()))?;
    out.extend_from_slice(serializer.get_result());
    Ok(())
}

/// The reply of `backup_<name>(offset, count)`.
pub fn encode_offset_page<S: BackupSeq>(
    offset: u64,
    count: u64,
    limits: PageLimits,
    instructions: &dyn Fn() -> u64,
) -> Result<Vec<u8>, PageError> {
    with_values::<S, _>(|len, read| {
        let entries = Indexed {
            next: offset,
            end: len,
            read,
        };
        page::offset_reply::<u64, S::Value, CandidKey>(
            (offset < len).then_some(entries),
            offset,
            count,
            limits,
            instructions,
        )
    })
}

/// The reply of `backup_<name>_page(after, max_bytes, until)`: the entries
/// after index `after` up to and including index `until`.
pub fn encode_cursor_page<S: BackupSeq>(
    after: Option<u64>,
    until: Option<u64>,
    limits: PageLimits,
    instructions: &dyn Fn() -> u64,
) -> Result<Vec<u8>, PageError> {
    with_values::<S, _>(|len, read| {
        let start = after.map_or(0, |after| after.saturating_add(1));
        let end = until.map_or(len, |until| until.saturating_add(1).min(len));
        let entries = Indexed {
            next: start,
            end: end.max(start),
            read,
        };
        page::cursor_reply::<u64, S::Value, S::Value, CandidKey>(
            entries,
            len,
            limits,
            instructions,
            &|value, out| append_value(&value, out),
        )
    })
}

/// The reply of `backup_<name>_splits(after, parts, walked)`: the indices
/// that cut the entries after `after` into spans of `ceil(len / parts)`
/// (never the last index), as a map's splits are; counted, not walked.
pub fn splits(
    len: u64,
    after: Option<u64>,
    parts: u64,
    walked: u64,
) -> Result<Splits<u64>, PageError> {
    if !(1..=MAX_SPLITS).contains(&parts) {
        return Err(PageError::BadParts { asked: parts });
    }
    let every = len.div_ceil(parts).max(1);
    if walked >= every {
        return Err(PageError::BadWalked { walked, every });
    }
    let start = after.map_or(0, |after| after.saturating_add(1));
    // The first cut is `every - walked` entries in: at index start + that - 1.
    let mut keys = Vec::new();
    let mut cut = start.saturating_add(every - walked).saturating_sub(1);
    while cut.saturating_add(1) < len {
        keys.push(cut);
        cut = cut.saturating_add(every);
    }
    Ok(Splits {
        keys,
        next: None,
        walked: 0,
    })
}

/// Why a restore batch of an indexed structure was refused. Nothing was
/// written. Messages start with `entry <index>` (within the batch).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SeqError {
    /// The value is over the type's `Storable` bound.
    OverBound {
        entry: usize,
        index: u64,
        bytes: usize,
        max: u32,
    },
    /// The indices do not increase, or repeat.
    OutOfOrder {
        entry: usize,
        index: u64,
        previous: u64,
    },
    /// A log's or heap's indices skip one.
    NotConsecutive {
        entry: usize,
        index: u64,
        expected: u64,
    },
    /// The index is past the end: the structure would have a gap.
    Gap { entry: usize, index: u64, len: u64 },
    /// A log's or heap's entry differs from the value at its index.
    Differs {
        entry: usize,
        index: u64,
        kind: SeqKind,
    },
    /// A heap's value is smaller than its parent's: pushed, it would move.
    OutOfPlace {
        entry: usize,
        index: u64,
        parent: u64,
    },
    /// A cell has one index, 0.
    NotCellIndex { entry: usize, index: u64 },
}

impl fmt::Display for SeqError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SeqError::OverBound { entry, index, bytes, max } => write!(
                f,
                "entry {entry} (index {index}): expected a value of at most {max} bytes (its Storable bound), found {bytes}; nothing was restored"
            ),
            SeqError::OutOfOrder { entry, index, previous } => write!(
                f,
                "entry {entry} (index {index}): expected indices in increasing order, found {index} after {previous}; nothing was restored"
            ),
            SeqError::NotConsecutive { entry, index, expected } => write!(
                f,
                "entry {entry} (index {index}): expected index {expected}, the one after the entry before it (a log or heap grows one index at a time); nothing was restored"
            ),
            SeqError::Gap { entry, index, len } => write!(
                f,
                "entry {entry} (index {index}): expected an index of at most {len} (the length, where the next value goes), found {index}: the values before it are missing; nothing was restored"
            ),
            SeqError::Differs { entry, index, kind } => write!(
                f,
                "entry {entry} (index {index}): the {} already holds another value at this index, and a {} only grows at its end; clear it first (`ic-backup restore --replace`) to restore it whole; nothing was restored",
                kind.name(), kind.name()
            ),
            SeqError::OutOfPlace { entry, index, parent } => write!(
                f,
                "entry {entry} (index {index}): the value is smaller than the one at index {parent}, its parent in the heap: pushed, it would move, and the heap would not be the one backed up; restore a heap into an empty one (`--replace`); nothing was restored"
            ),
            SeqError::NotCellIndex { entry, index } => write!(
                f,
                "entry {entry} (index {index}): a cell holds one value, at index 0; nothing was restored"
            ),
        }
    }
}

impl std::error::Error for SeqError {}

/// What a batch does, checked whole: each entry either writes (`true`) or
/// is the value already there (`false`, a log's or heap's entry below its
/// length). `gaps`: whether an index past the end is refused (restore) or
/// left for the batches before it to fill (validate, which sees one batch).
fn check<S: BackupSeq>(
    stored: Option<&S::Structure>,
    batch: &[(u64, S::Value)],
    gaps: bool,
) -> Result<Vec<bool>, SeqError> {
    let kind = kind::<S>();
    let len = stored.map_or(0, |structure| structure.len());
    let get = |index: u64| stored.and_then(|structure| structure.get(index));
    let max = match S::Value::BOUND {
        Bound::Bounded { max_size, .. } if kind != SeqKind::Log => Some(max_size),
        _ => None,
    };
    let mut writes = Vec::with_capacity(batch.len());
    // The length once the entries before this one are in.
    let mut end = len;
    for (entry, (index, value)) in batch.iter().enumerate() {
        let index = *index;
        if kind == SeqKind::Cell && index != 0 {
            return Err(SeqError::NotCellIndex { entry, index });
        }
        if let Some(&(previous, _)) = entry.checked_sub(1).and_then(|at| batch.get(at)) {
            if index <= previous {
                return Err(SeqError::OutOfOrder {
                    entry,
                    index,
                    previous,
                });
            }
            if kind.append_only() && index != previous + 1 {
                return Err(SeqError::NotConsecutive {
                    entry,
                    index,
                    expected: previous + 1,
                });
            }
        }
        let bytes = value.to_bytes();
        if let Some(max) = max.filter(|max| bytes.len() > *max as usize) {
            return Err(SeqError::OverBound {
                entry,
                index,
                bytes: bytes.len(),
                max,
            });
        }
        if kind == SeqKind::Cell {
            writes.push(true);
            continue;
        }
        if index > end && gaps {
            return Err(SeqError::Gap {
                entry,
                index,
                len: end,
            });
        }
        if kind.append_only() && index < len {
            let same = get(index).is_some_and(|stored| stored.to_bytes() == bytes);
            if !same {
                return Err(SeqError::Differs { entry, index, kind });
            }
            writes.push(false);
            continue;
        }
        if kind == SeqKind::MinHeap && index > 0 {
            let parent = (index - 1) / 2;
            // The parent is stored, or earlier in this batch (the indices
            // are consecutive); one in an earlier batch is checked when
            // that batch's successor is restored.
            let first = batch[0].0;
            let keeps = if parent < len {
                get(parent)
                    .map(|parent| <S::Structure as Seq<S::Value>>::keeps_place(value, &parent))
            } else if parent >= first {
                batch
                    .get(usize::try_from(parent - first).unwrap_or(usize::MAX))
                    .map(|(_, parent)| <S::Structure as Seq<S::Value>>::keeps_place(value, parent))
            } else {
                None
            };
            match keeps {
                Some(false) => {
                    return Err(SeqError::OutOfPlace {
                        entry,
                        index,
                        parent,
                    })
                }
                None if gaps => {
                    return Err(SeqError::Gap {
                        entry,
                        index,
                        len: end,
                    })
                }
                _ => {}
            }
        }
        end = end.max(index + 1);
        writes.push(true);
    }
    Ok(writes)
}

/// Runs `f` on the structure, or on nothing when its memories are empty
/// (see [`BackupSeq::untouched`]).
fn with_stored<S: BackupSeq, R>(f: impl FnOnce(Option<&S::Structure>) -> R) -> R {
    if S::untouched() {
        f(None)
    } else {
        S::with(|structure| f(Some(&structure.borrow())))
    }
}

/// Decodes a restore batch as ic-cdk decodes an argument, with the maps'
/// decoder settings.
fn decode_batch<S: BackupSeq>(arg: &[u8]) -> Result<Vec<(u64, S::Value)>, String> {
    let arg: &[u8] = if arg.is_empty() { b"DIDL\x00\x00" } else { arg };
    let mut config = candid::DecoderConfig::new();
    config.set_skipping_quota(10_000);
    config.set_full_error_message(false);
    candid::utils::decode_args_with_config::<(Vec<(u64, S::Value)>,)>(arg, &config)
        .map(|(entries,)| entries)
        .map_err(|error| {
            format!("expected a restore batch `vec record {{ nat64; value }}`: {error}")
        })
}

/// `vec record { nat64; V }` as `restore_<name>` and `validate_<name>` take
/// it (read by [`read_batch`]).
pub struct Batch<S: BackupSeq>(Vec<(u64, S::Value)>);

impl<S: BackupSeq> CandidType for Batch<S> {
    fn ty() -> Type {
        <Vec<(u64, S::Value)>>::ty()
    }
    fn _ty() -> Type {
        <Vec<(u64, S::Value)>>::_ty()
    }
    fn _ty_doc() -> candid::types::internal::TypeDoc {
        <Vec<(u64, S::Value)>>::_ty_doc()
    }
    fn id() -> TypeId {
        <Vec<(u64, S::Value)>>::id()
    }
    fn idl_serialize<T: Serializer>(&self, serializer: T) -> Result<(), T::Error> {
        self.0.idl_serialize(serializer)
    }
}

/// The `decode_with` of `restore_<name>` and `validate_<name>`.
pub fn read_batch<S: BackupSeq>(arg: Vec<u8>) -> Batch<S> {
    Batch(crate::__private::or_trap(decode_batch::<S>(&arg)))
}

/// `backup_<name>(offset, count)`: replies with the encoded page itself.
pub fn backup<S: BackupSeq>(offset: u64, count: u64) -> Entries<S> {
    opened::<S>();
    let reply = encode_offset_page::<S>(
        offset,
        count,
        PageLimits::default(),
        &crate::__private::instruction_counter,
    );
    ic_cdk::api::msg_reply(crate::__private::or_trap(reply));
    Entries::new(Vec::new())
}

/// `backup_<name>_page(after, max_bytes, until)`: replies with the encoded
/// page itself.
pub fn backup_page<S: BackupSeq>(
    after: Option<u64>,
    max_bytes: Option<u64>,
    until: Option<u64>,
) -> Page<S> {
    opened::<S>();
    let reply = PageLimits::with_max_bytes(max_bytes).and_then(|limits| {
        encode_cursor_page::<S>(after, until, limits, &crate::__private::instruction_counter)
    });
    ic_cdk::api::msg_reply(crate::__private::or_trap(reply));
    Page::new(BackupPage {
        entries: Vec::new(),
        next: None,
        len: 0,
        skipped: Vec::new(),
    })
}

/// `backup_<name>_splits(after, parts, walked)`.
pub fn backup_splits<S: BackupSeq>(
    after: Option<u64>,
    parts: u64,
    walked: Option<u64>,
) -> SplitKeys<S> {
    opened::<S>();
    let len = with_stored::<S, _>(|stored| stored.map_or(0, |structure| structure.len()));
    SplitKeys::new(crate::__private::or_trap(splits(
        len,
        after,
        parts,
        walked.unwrap_or(0),
    )))
}

/// `restore_<name>(entries)`: every entry checked before anything is
/// written; the number of entries taken (written, or already there).
pub fn restore<S: BackupSeq>(batch: Batch<S>) -> Result<u64, String> {
    opened::<S>();
    let writes = with_stored::<S, _>(|stored| check::<S>(stored, &batch.0, true))
        .map_err(|error| error.to_string())?;
    let count = batch.0.len() as u64;
    S::with(|structure| {
        let mut structure = structure.borrow_mut();
        for ((index, value), write) in batch.0.into_iter().zip(writes) {
            if write {
                structure.put(index, value);
            }
        }
    });
    Ok(count)
}

/// `validate_<name>(entries)`: the checks of `restore_<name>` that this
/// batch alone decides, writing nothing (an index past the end is left to
/// the batches before it).
pub fn validate<S: BackupSeq>(batch: Batch<S>) -> Result<u64, String> {
    opened::<S>();
    with_stored::<S, _>(|stored| check::<S>(stored, &batch.0, false))
        .map(|writes| writes.len() as u64)
        .map_err(|error| error.to_string())
}

/// `clear_<name>()`: the structure made anew over its memory (a cell holds
/// its initial value again); how many entries it held.
pub fn clear<S: BackupSeq>() -> u64 {
    opened::<S>();
    if S::untouched() {
        return 0;
    }
    S::with(|structure| {
        let len = structure.borrow().len();
        *structure.borrow_mut() = S::empty();
        len
    })
}

#[cfg(test)]
mod tests;

//! Restoring a batch of entries: all of it, or nothing.
//!
//! [`check`] runs every test an entry must pass; [`restore`] inserts only
//! after all of a batch passed, and `validate_<name>` runs [`check`] alone,
//! so a client can prove a whole file acceptable before it writes anything.

use crate::key::KeyCodec;
use ic_stable_structures::storable::Bound;
use ic_stable_structures::{Memory, StableBTreeMap, Storable};
use std::fmt;

/// Why a restore batch was refused. Nothing was inserted.
///
/// Every message starts with `entry <index>` (0-based, within the batch), so
/// a client that sent the batch from a file can say which entry of the file
/// it was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RestoreError {
    /// The key of entry `index` did not convert to a map key.
    BadKey { index: usize, error: String },
    /// The key or value of entry `index` is larger than its `Storable` bound.
    OverBound {
        index: usize,
        key: Option<String>,
        part: &'static str,
        bytes: usize,
        max: u32,
    },
    /// The key or value of entry `index` is larger than the map's V1 layout
    /// holds (a map ic-stable-structures 0.5 or earlier wrote).
    OverV1Layout {
        index: usize,
        key: Option<String>,
        part: &'static str,
        bytes: usize,
        max: u32,
    },
    /// The value of entry `index` does not decode as the map's value type
    /// (its own `Deserialize` refuses it): stored, the canister could never
    /// read it back.
    BadValue {
        index: usize,
        key: Option<String>,
        error: String,
    },
    /// Entry `index` has the same key as entry `first`: restoring both would
    /// report two entries and store one.
    DuplicateKey {
        index: usize,
        first: usize,
        key: Option<String>,
    },
}

fn key_note(key: &Option<String>) -> String {
    key.as_ref()
        .map(|key| format!(" (key `{key}`)"))
        .unwrap_or_default()
}

impl fmt::Display for RestoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestoreError::BadKey { index, error } => {
                write!(f, "entry {index}: {error}; nothing was restored")
            }
            RestoreError::OverBound { index, key, part, bytes, max } => write!(
                f,
                "entry {index}{}: expected a {part} of at most {max} bytes (its Storable bound), found {bytes}; nothing was restored",
                key_note(key)
            ),
            RestoreError::OverV1Layout { index, key, part, bytes, max } => write!(
                f,
                "entry {index}{}: the {part} is {bytes} bytes, but this map is in the V1 layout that ic-stable-structures 0.5 and earlier wrote, whose {part}s hold at most {max} bytes; a larger one would corrupt the map (ic-stable-structures 0.6 and later write it past its slot). Rewrite the map in the current layout first (`ic-backup migrate <map>`: a verified backup, clear and restore); nothing was restored",
                key_note(key)
            ),
            RestoreError::BadValue { index, key, error } => write!(
                f,
                "entry {index}{}: the value does not decode as the map's value type ({error}): the canister could not read it back; nothing was restored",
                key_note(key)
            ),
            RestoreError::DuplicateKey { index, first, key } => write!(
                f,
                "entry {index}{}: expected each key once, found the key of entry {first} again; nothing was restored",
                key_note(key)
            ),
        }
    }
}

impl std::error::Error for RestoreError {}

/// Refuses a key or value of `bytes` bytes (counted only when needed) over
/// its `Storable` bound, or over the slot of a V1 map.
fn check_size(
    bytes: impl Fn() -> usize,
    bound: Option<u32>,
    v1_slot: Option<u32>,
    index: usize,
    key: impl Fn() -> Option<String>,
    part: &'static str,
) -> Result<(), RestoreError> {
    if bound.is_none() && v1_slot.is_none() {
        return Ok(());
    }
    let bytes = bytes();
    if bound.is_none_or(|max| bytes <= max as usize)
        && v1_slot.is_none_or(|max| bytes <= max as usize)
    {
        return Ok(());
    }
    let key = key();
    if let Some(max) = bound.filter(|&max| bytes > max as usize) {
        return Err(RestoreError::OverBound {
            index,
            key,
            part,
            bytes,
            max,
        });
    }
    match v1_slot {
        Some(max) if bytes > max as usize => Err(RestoreError::OverV1Layout {
            index,
            key,
            part,
            bytes,
            max,
        }),
        _ => Ok(()),
    }
}

/// The bounds of a map in the V1 layout (`BTR`, version 1), which
/// ic-stable-structures 0.5 and earlier wrote: its nodes keep each key and
/// value in a slot of the size the map was created with. Later versions
/// read such a map, but a key or value larger than its slot, inserted into
/// one of its old nodes, overwrites what follows: the map is corrupt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct V1Layout {
    pub max_key_size: u32,
    pub max_value_size: u32,
}

impl V1Layout {
    /// The layout of the map in `memory`, if it is a V1 map.
    pub fn of<M: Memory>(memory: &M) -> Option<V1Layout> {
        if memory.size() == 0 {
            return None;
        }
        let mut header = [0u8; 12];
        memory.read(0, &mut header);
        let u32_at = |at: usize| {
            u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
        };
        (header[..3] == *b"BTR" && header[3] == 1).then(|| V1Layout {
            max_key_size: u32_at(4),
            max_value_size: u32_at(8),
        })
    }
}

/// Converts and checks every entry of `batch` (key text, `Storable` bounds,
/// the slots of a V1 map, each key once), writing nothing: the entries ready
/// to insert, or the first entry that would be refused.
pub fn check<K, V, C>(
    batch: Vec<(C::Wire, V)>,
    v1: Option<V1Layout>,
) -> Result<Vec<(K, V)>, RestoreError>
where
    K: Storable + Ord + Clone,
    V: Storable,
    C: KeyCodec<K>,
{
    check_entries::<K, V, C>(
        batch,
        v1,
        V::BOUND,
        |value| value.to_bytes().len(),
        |_| None,
    )
}

/// A value's bytes as they are to be stored, or why the value type's
/// decoder refused it.
pub type StoredValue = Result<Vec<u8>, String>;

/// [`check`] of values given as the bytes they are to be stored as (a
/// [`CandidBytes`](crate::CandidBytes) value's Candid, taken from the
/// restore message and checked by the value type's decoder), whose bound
/// is `bound`; a value the decoder refused is an `Err` with its message.
pub fn check_stored<K, C>(
    batch: Vec<(C::Wire, StoredValue)>,
    v1: Option<V1Layout>,
    bound: Bound,
) -> Result<Vec<(K, Vec<u8>)>, RestoreError>
where
    K: Storable + Ord + Clone,
    C: KeyCodec<K>,
{
    let checked = check_entries::<K, StoredValue, C>(
        batch,
        v1,
        bound,
        |value| value.as_ref().map_or(0, Vec::len),
        |value| value.as_ref().err().cloned(),
    )?;
    // Every value was decoded (an error above is refused in order).
    Ok(checked
        .into_iter()
        .filter_map(|(key, value)| Some((key, value.ok()?)))
        .collect())
}

fn check_entries<K, T, C>(
    batch: Vec<(C::Wire, T)>,
    v1: Option<V1Layout>,
    value_bound: Bound,
    value_len: impl Fn(&T) -> usize,
    value_error: impl Fn(&T) -> Option<String>,
) -> Result<Vec<(K, T)>, RestoreError>
where
    K: Storable + Ord + Clone,
    C: KeyCodec<K>,
{
    let max_size = |bound: &Bound| match bound {
        Bound::Bounded { max_size, .. } => Some(*max_size),
        Bound::Unbounded => None,
    };
    let (key_bound, value_bound) = (max_size(&K::BOUND), max_size(&value_bound));
    let mut checked = Vec::with_capacity(batch.len());
    // The first entry refused on its own, if any: the entries before it are
    // then searched for a key given twice, which an entry-by-entry check
    // would have met first.
    let mut refused = None;
    for (index, (wire, value)) in batch.into_iter().enumerate() {
        let key = match C::from_wire(wire) {
            Ok(key) => key,
            Err(error) => {
                refused = Some(RestoreError::BadKey { index, error });
                break;
            }
        };
        // The key's text, for a message only: the text it came as.
        let described = || C::describe(&C::to_wire(&key));
        if let Some(error) = value_error(&value) {
            refused = Some(RestoreError::BadValue {
                index,
                key: described(),
                error,
            });
            break;
        }
        let slot = |max: fn(&V1Layout) -> u32| v1.as_ref().map(max);
        let sizes = check_size(
            || key.to_bytes().len(),
            key_bound,
            slot(|l| l.max_key_size),
            index,
            described,
            "key",
        )
        .and_then(|()| {
            check_size(
                || value_len(&value),
                value_bound,
                slot(|l| l.max_value_size),
                index,
                described,
                "value",
            )
        });
        if let Err(error) = sizes {
            refused = Some(error);
            break;
        }
        checked.push((key, value));
    }
    if let Some(error) = first_duplicate::<K, T, C>(&checked).or(refused) {
        return Err(error);
    }
    Ok(checked)
}

/// The first entry (by index) whose key an earlier entry has, named with
/// that earlier entry: found by sorting, without a set of copied keys.
fn first_duplicate<K, T, C>(entries: &[(K, T)]) -> Option<RestoreError>
where
    K: Storable + Ord + Clone,
    C: KeyCodec<K>,
{
    // By key, then by index: each key's entries in the order they came.
    let order = sorted_indices(entries.len(), &|a, b| entries[a].0.cmp(&entries[b].0));
    order
        .windows(2)
        .enumerate()
        .filter(|&(at, pair)| {
            entries[pair[0]].0 == entries[pair[1]].0
                && (at == 0 || entries[order[at - 1]].0 != entries[pair[0]].0)
        })
        .map(|(_, pair)| (pair[1], pair[0]))
        .min()
        .map(|(index, first)| RestoreError::DuplicateKey {
            index,
            first,
            key: C::describe(&C::to_wire(&entries[index].0)),
        })
}

/// The indices `0..len` sorted by `by`, then by index. Not generic: a sort
/// written in a generic function is compiled again for every map's types
/// (std's sort is large, a tenth of a canister's code for a few maps), this
/// one once per canister, comparing through `by`.
fn sorted_indices(len: usize, by: &dyn Fn(usize, usize) -> std::cmp::Ordering) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    order.sort_unstable_by(|&a, &b| by(a, b).then(a.cmp(&b)));
    order
}

/// The answer of `validate_<name>`: how many entries `restore_<name>` would
/// insert, or why it would refuse the batch.
pub fn validate<K, V, C>(
    batch: Vec<(C::Wire, V)>,
    v1: Option<V1Layout>,
) -> Result<u64, RestoreError>
where
    K: Storable + Ord + Clone,
    V: Storable,
    C: KeyCodec<K>,
{
    check::<K, V, C>(batch, v1).map(|checked| checked.len() as u64)
}

/// Inserts every entry of `batch` into `map` (overwriting existing keys) and
/// returns how many were inserted, after checking every entry first: on an
/// error the map is untouched.
/// `v1` is the map's layout if it is a V1 map ([`V1Layout::of`] its memory).
pub fn restore<K, V, M, C>(
    map: &mut StableBTreeMap<K, V, M>,
    batch: Vec<(C::Wire, V)>,
    v1: Option<V1Layout>,
) -> Result<u64, RestoreError>
where
    K: Storable + Ord + Clone,
    V: Storable,
    M: Memory,
    C: KeyCodec<K>,
{
    Ok(insert_all(map, check::<K, V, C>(batch, v1)?))
}

/// Inserts entries that [`check`] passed; returns how many. The generated
/// `restore_<name>` checks before it first touches the map's static, whose
/// creation on a fresh canister would otherwise write stable memory even for
/// a refused batch.
pub fn insert_all<K, V, M>(map: &mut StableBTreeMap<K, V, M>, checked: Vec<(K, V)>) -> u64
where
    K: Storable + Ord + Clone,
    V: Storable,
    M: Memory,
{
    let count = checked.len() as u64;
    for (key, value) in spread(checked) {
        map.insert(key, value);
    }
    count
}

/// The entries of a batch in the order they are inserted: spread over the
/// batch (bit-reversed positions), not one after the other. A backup file
/// is in key order, and stable-structures' B-tree inserts in key order
/// split each full node in two halves that are never filled again: more
/// nodes, a deeper tree, more splits. The keys are distinct (checked), so
/// the order changes nothing in what the map holds.
pub fn spread<T>(entries: Vec<T>) -> impl Iterator<Item = T> {
    let n = entries.len();
    let bits = usize::BITS - n.saturating_sub(1).leading_zeros();
    let mut slots: Vec<Option<T>> = entries.into_iter().map(Some).collect();
    (0..1usize << bits)
        .map(move |i| {
            if bits == 0 {
                i
            } else {
                i.reverse_bits() >> (usize::BITS - bits)
            }
        })
        .filter_map(move |i| slots.get_mut(i).and_then(Option::take))
}

/// Removes every entry of `map` and returns how many there were. The map
/// starts again in the current layout (`StableBTreeMap::new` over its
/// memory): `clear_new` would keep a V1 map's layout and its slot bounds.
pub fn clear<K, V, M>(map: &mut StableBTreeMap<K, V, M>, memory: M) -> u64
where
    K: Storable + Ord + Clone,
    V: Storable,
    M: Memory,
{
    let len = map.len();
    *map = StableBTreeMap::new(memory);
    len
}

#[cfg(test)]
mod tests;

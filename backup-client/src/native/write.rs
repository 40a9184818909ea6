//! Writing a structure of ic-stable-structures into the bytes of stable
//! memory, without the canister's wasm: the restore of a layout file's
//! structure into an image or a snapshot folder, which is then loaded into
//! the canister (`load`, `snapshot upload`).
//!
//! Maps, sets, logs and cells are written by ic-stable-structures itself,
//! over the image, with stand-in key and value types whose `Storable`
//! encodings are the stored bytes and whose order and bounds are those of
//! the standard key types ([`Stored`]). A vec or min-heap is written slot
//! by slot, within the element size its header records (the bound of the
//! canister's type, which only its code knows: a vec the canister never
//! created is refused). The rules are the derive's restore's: a map or set
//! takes each entry (replacing the value of a key it holds), a vec sets
//! below its length and appends at it, a log or heap only grows, an index
//! below its length carrying the value already there (for a heap, so its
//! order holds without knowing the canister's `Ord`), a cell has index 0.
//! Everything is written into a copy: an error leaves the image as it was.

use super::{NotNative, Slots, Stored};
use crate::layout::Kind;
use ic_stable_structures::memory_manager::{MemoryId, MemoryManager};
use ic_stable_structures::storable::Bound;
use ic_stable_structures::{
    DefaultMemoryImpl, Memory, StableBTreeMap, StableCell, StableLog, Storable,
};
use std::borrow::Cow;
use std::cmp::Ordering;

/// What a restore writes: stored keys (a map, a set) or indices, each with
/// its stored value (a set's: no bytes).
pub enum Entries {
    Keyed(Vec<(Vec<u8>, Vec<u8>)>),
    Indexed(Vec<(u64, Vec<u8>)>),
}

impl Entries {
    pub fn len(&self) -> usize {
        match self {
            Entries::Keyed(entries) => entries.len(),
            Entries::Indexed(entries) => entries.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Where the structure is and what it is.
pub struct Place {
    pub kind: Kind,
    /// Its memory of the `MemoryManager` (a log's index); `None`: the whole
    /// stable memory.
    pub memory_id: Option<u8>,
    pub data_memory_id: Option<u8>,
    /// How a map's or set's keys are stored.
    pub key: Stored,
}

/// Whether two stored values at an index are the same value (decoded with
/// the structure's type): a log's or heap's entry below its length must
/// carry the one already there.
pub type Same<'a> = dyn Fn(u64, &[u8], &[u8]) -> Result<bool, NotNative> + 'a;

/// The image `image` with `entries` written into the structure at `place`
/// (emptied first, if `replace`); how many entries the structure then holds.
pub fn write(
    image: &[u8],
    place: &Place,
    entries: &Entries,
    replace: bool,
    same: &Same,
) -> Result<(Vec<u8>, u64), NotNative> {
    if !(image.len() as u64).is_multiple_of(65536) {
        return Err(NotNative(format!(
            "expected an image of whole 64 KiB pages, found {} bytes",
            image.len()
        )));
    }
    let stable = DefaultMemoryImpl::default();
    if stable.grow(image.len() as u64 / 65536) < 0 {
        return Err(NotNative("the image does not fit in memory".into()));
    }
    stable.write(0, image);
    let held = match place.memory_id {
        None => write_in(
            stable.clone(),
            stable.clone(),
            place,
            entries,
            replace,
            same,
        )?,
        Some(id) => {
            if !image.is_empty() && &image[..3] != b"MGR" {
                return Err(NotNative(format!(
                    "expected a MemoryManager image (magic `MGR`) for memory {id}, found {}",
                    super::describe(&image[..4])
                )));
            }
            let manager = MemoryManager::init(stable.clone());
            let main = manager.get(MemoryId::new(id));
            let data = manager.get(MemoryId::new(place.data_memory_id.unwrap_or(id)));
            write_in(main, data, place, entries, replace, same)?
        }
    };
    let mut out = vec![0; (stable.size() * 65536) as usize];
    stable.read(0, &mut out);
    Ok((out, held))
}

fn write_in<M: Memory>(
    main: M,
    data: M,
    place: &Place,
    entries: &Entries,
    replace: bool,
    same: &Same,
) -> Result<u64, NotNative> {
    match (place.kind, entries) {
        (Kind::Map | Kind::Set, Entries::Keyed(entries)) => {
            let set = place.kind == Kind::Set;
            match place.key {
                Stored::Nat(1) | Stored::Bool => keyed::<Fixed<1>, M>(main, entries, replace, set),
                Stored::Nat(2) => keyed::<Fixed<2>, M>(main, entries, replace, set),
                Stored::Nat(4) => keyed::<Fixed<4>, M>(main, entries, replace, set),
                Stored::Nat(8) => keyed::<Fixed<8>, M>(main, entries, replace, set),
                Stored::Principal => keyed::<PrincipalKey, M>(main, entries, replace, set),
                Stored::Text | Stored::Blob => keyed::<Blob, M>(main, entries, replace, set),
                other => Err(NotNative(format!("no writer for keys stored as {other:?}"))),
            }
        }
        (Kind::Vec | Kind::MinHeap, Entries::Indexed(entries)) => {
            slots(&main, place.kind, entries, replace, same)
        }
        (Kind::Log, Entries::Indexed(entries)) => log(main, data, entries, replace, same),
        (Kind::Cell, Entries::Indexed(entries)) => cell(main, entries),
        _ => Err(NotNative("entries of another kind of structure".into())),
    }
}

/// `Storable` as the bytes themselves, with `$bound`, and made from them:
/// the stand-ins for the canister's key and value types.
macro_rules! stored_bytes {
    ($name:ident $(<const $n:ident: u32>)?, $bound:expr) => {
        impl$(<const $n: u32>)? Storable for $name$(<$n>)? {
            fn to_bytes(&self) -> Cow<'_, [u8]> {
                Cow::Borrowed(&self.0)
            }
            fn into_bytes(self) -> Vec<u8> {
                self.0
            }
            fn from_bytes(bytes: Cow<[u8]>) -> Self {
                $name(bytes.into_owned())
            }
            const BOUND: Bound = $bound;
        }

        impl$(<const $n: u32>)? From<Vec<u8>> for $name$(<$n>)? {
            fn from(bytes: Vec<u8>) -> Self {
                $name(bytes)
            }
        }
    };
}

/// A stored key of `N` bytes (`u8` to `u64`, `bool`): fixed size, in byte
/// order.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Fixed<const N: u32>(Vec<u8>);

stored_bytes!(
    Fixed<const N: u32>,
    Bound::Bounded {
        max_size: N,
        is_fixed_size: true,
    }
);

/// A stored `Principal`: at most 29 bytes, ordered by length first.
#[derive(Clone, PartialEq, Eq)]
struct PrincipalKey(Vec<u8>);

impl Ord for PrincipalKey {
    fn cmp(&self, other: &Self) -> Ordering {
        Stored::Principal.compare(&self.0, &other.0)
    }
}

impl PartialOrd for PrincipalKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

stored_bytes!(
    PrincipalKey,
    Bound::Bounded {
        max_size: 29,
        is_fixed_size: false,
    }
);

/// Stored bytes of any size, in byte order: a `String` or `Vec<u8>` key,
/// any value.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Blob(Vec<u8>);

stored_bytes!(Blob, Bound::Unbounded);

/// The magic and version at the start of `memory` (zeros if it is empty).
fn head<M: Memory>(memory: &M) -> [u8; 4] {
    let mut head = [0; 4];
    if memory.size() > 0 {
        memory.read(0, &mut head);
    }
    head
}

/// A map (or a set: values of no bytes) in `memory`, a new one if the
/// memory is empty; only ic-stable-structures' current layout (V2) is
/// written.
fn keyed<K, M>(
    memory: M,
    entries: &[(Vec<u8>, Vec<u8>)],
    replace: bool,
    set: bool,
) -> Result<u64, NotNative>
where
    K: Storable + Ord + Clone + From<Vec<u8>>,
    M: Memory,
{
    match head(&memory) {
        [0, 0, 0, 0] => {}
        [b'B', b'T', b'R', 2] => {}
        [b'B', b'T', b'R', version] => {
            return Err(NotNative(format!(
                "a StableBTreeMap of layout version {version}: written only in version 2 (`ic-backup migrate` rewrites it)"
            )))
        }
        found => {
            return Err(NotNative(format!(
                "expected a StableBTreeMap (magic `BTR`), found {}",
                super::describe(&found)
            )))
        }
    }
    if set {
        let mut map: StableBTreeMap<K, (), M> = StableBTreeMap::init(memory);
        if replace {
            map.clear_new();
        }
        for (key, _) in entries {
            map.insert(K::from(key.clone()), ());
        }
        Ok(map.len())
    } else {
        let mut map: StableBTreeMap<K, Blob, M> = StableBTreeMap::init(memory);
        if replace {
            map.clear_new();
        }
        for (key, value) in entries {
            map.insert(K::from(key.clone()), Blob(value.clone()));
        }
        Ok(map.len())
    }
}

/// Grows `memory` to hold `bytes` bytes.
fn reserve<M: Memory>(memory: &M, bytes: u64) -> Result<(), NotNative> {
    let pages = bytes.div_ceil(65536);
    if pages > memory.size() && memory.grow(pages - memory.size()) < 0 {
        return Err(NotNative(format!("memory cannot grow to {bytes} bytes")));
    }
    Ok(())
}

/// The elements of a vec or min-heap the canister made (magic `SVC` or
/// `SMH`, version 1): each written into its slot, within the slot's size.
fn slots<M: Memory>(
    memory: &M,
    kind: Kind,
    entries: &[(u64, Vec<u8>)],
    replace: bool,
    same: &Same,
) -> Result<u64, NotNative> {
    let magic: &[u8; 3] = if kind == Kind::Vec { b"SVC" } else { b"SMH" };
    let found = head(memory);
    if found[..3] != magic[..] || found[3] != 1 {
        let why = if found == [0; 4] {
            " (the canister never created it, and the size of its elements is in its code: let the canister create it, then restore)".to_string()
        } else {
            String::new()
        };
        return Err(NotNative(format!(
            "expected a {} (magic `{}`, version 1), found {}{why}",
            kind.type_name(),
            String::from_utf8_lossy(magic),
            super::describe(&found)
        )));
    }
    let mut header = [0; 64];
    memory.read(0, &mut header);
    let slots = Slots::parse(&header)?;
    let Slots {
        max, fixed, slot, ..
    } = slots;
    let mut len = if replace { 0 } else { slots.len };
    for (index, value) in entries {
        let (index, size) = (*index, value.len() as u64);
        if size > max || (fixed && size != max) {
            return Err(NotNative(format!(
                "the value at index {index} takes {size} bytes, where the {} holds {} {max} bytes",
                kind.type_name(),
                if fixed { "exactly" } else { "at most" }
            )));
        }
        if index > len {
            return Err(NotNative(format!(
                "index {index} is past the end ({len}): the values between are missing"
            )));
        }
        let at = 64 + index * slot;
        if index < len && kind == Kind::MinHeap {
            let mut stored = vec![0; slot as usize];
            memory.read(at, &mut stored);
            let stored = slots.element(&stored).unwrap_or_default();
            if !same(index, stored, value)? {
                return Err(NotNative(format!(
                    "index {index} already holds another value: a heap only grows, so that its order holds"
                )));
            }
            continue;
        }
        reserve(memory, at + slot)?;
        memory.write(at, &slots.slot_of(value));
        len = len.max(index + 1);
    }
    memory.write(4, &len.to_le_bytes());
    Ok(len)
}

/// A log: entries below its length must be the ones there, the rest
/// appended in order.
fn log<M: Memory>(
    index: M,
    data: M,
    entries: &[(u64, Vec<u8>)],
    replace: bool,
    same: &Same,
) -> Result<u64, NotNative> {
    for (memory, magic) in [(&index, b"GLI"), (&data, b"GLD")] {
        let found = head(memory);
        if found != [0; 4] && found[..3] != magic[..] {
            return Err(NotNative(format!(
                "expected a StableLog (magic `{}`), found {}",
                String::from_utf8_lossy(magic),
                super::describe(&found)
            )));
        }
    }
    let log: StableLog<Blob, M, M> = if replace {
        StableLog::new(index, data)
    } else {
        StableLog::init(index, data)
    };
    for (at, value) in entries {
        let len = log.len();
        match at.cmp(&len) {
            Ordering::Less => {
                let stored = log.get(*at).map(|blob| blob.0).unwrap_or_default();
                if !same(*at, &stored, value)? {
                    return Err(NotNative(format!(
                        "index {at} already holds another value: a log only grows"
                    )));
                }
            }
            Ordering::Equal => {
                log.append(&Blob(value.clone()))
                    .map_err(|error| NotNative(format!("appending index {at}: {error:?}")))?;
            }
            Ordering::Greater => {
                return Err(NotNative(format!(
                    "index {at} is past the end ({len}): the values between are missing"
                )))
            }
        }
    }
    Ok(log.len())
}

/// A cell: its value (index 0) set.
fn cell<M: Memory>(memory: M, entries: &[(u64, Vec<u8>)]) -> Result<u64, NotNative> {
    let found = head(&memory);
    if found != [0; 4] && (found[..3] != b"SCL"[..] || found[3] != 1) {
        return Err(NotNative(format!(
            "expected a StableCell (magic `SCL`, version 1), found {}",
            super::describe(&found)
        )));
    }
    let Some((_, value)) = entries.last() else {
        return Ok(1);
    };
    if let Some((index, _)) = entries.iter().find(|(index, _)| *index != 0) {
        return Err(NotNative(format!(
            "index {index}: a cell holds one value, at index 0"
        )));
    }
    let mut cell = StableCell::init(memory, Blob(value.clone()));
    cell.set(Blob(value.clone()));
    Ok(1)
}

#[cfg(test)]
mod tests;

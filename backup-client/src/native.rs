//! The structures of ic-stable-structures read from the bytes of stable
//! memory, without the canister's wasm: a `StableBTreeMap` (the offline
//! backup's fast path), and the elements of a `StableVec` or
//! `StableMinHeap`, the entries of a `StableLog`, the value of a
//! `StableCell` ([`vec_elements`], [`log_entries`], [`cell_value`]), as
//! stored bytes.
//!
//! The reader follows ic-stable-structures' layout (0.5 to 0.7): the
//! `MemoryManager`'s buckets (`backup_runtime::image::Layout`), the map's
//! header (`BTR`, version 1 or 2), nodes (`BTN`) of version 1 (fixed slots
//! for keys and values) or 2 (sizes before keys and values, a node longer
//! than its page continued in overflow pages, `NOF`), mixed in one map as a
//! migrated map holds them. Keys are the `Storable` encodings of the
//! standard key types ([`Stored`]), values Candid messages of one header or
//! standard encodings too. What it reads it checks: magics, bounds, sizes,
//! every value's header and body ([`Shape::accepts`]); anything else is a
//! [`NotNative`] reason, never a guess, and the caller then asks the
//! canister (its wasm) instead.

use backup_runtime::canonical::Shape;
use backup_runtime::image::{Layout, MapHeader};
use candid::types::value::IDLValue;
use candid::types::{Type, TypeEnv, TypeInner};
use candid::{IDLArgs, Principal};
use std::cmp::Ordering;
use std::fmt;

/// Why a map (or one of its entries) is not read natively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotNative(pub String);

impl fmt::Display for NotNative {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn not_native<T>(reason: impl Into<String>) -> Result<T, NotNative> {
    Err(NotNative(reason.into()))
}

/// The `Storable` encoding of a standard key or value type of
/// ic-stable-structures, as stored in a map's node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stored {
    /// `Principal`: its bytes (at most 29, of varying length).
    Principal,
    /// `u8`, `u16`, `u32`, `u64`: big-endian, of this many bytes (fixed).
    Nat(usize),
    /// `bool`: one byte, 0 or 1 (fixed).
    Bool,
    /// `String`: UTF-8 (unbounded).
    Text,
    /// `Vec<u8>`: the bytes (unbounded).
    Blob,
    /// `[u8; N]`: the bytes (fixed).
    Bytes(usize),
}

/// How a stored key travels in the canister's pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wire {
    /// As its own Candid type.
    Candid,
    /// As text (`#[backup(key = text)]`, `KeyText`).
    Text,
}

/// How a map's keys are stored and travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyForm {
    pub stored: Stored,
    pub wire: Wire,
}

/// How a map's values are stored.
#[derive(Clone, Debug)]
pub enum ValueForm {
    /// A Candid message, each with exactly this header (`DIDL`, type table,
    /// argument type) and a body that is the canonical encoding of one value.
    Candid { header: Vec<u8>, shape: Shape },
    /// A standard encoding, traveling as its own Candid type.
    Stored(Stored),
    /// A set's `()`: no bytes, traveling as `null`.
    Unit,
    /// A Candid message of any header, decoded with the value's type as
    /// `candid::decode_one` would (a layout file's values: no canister
    /// page says how they are written).
    Typed,
}

impl Stored {
    /// Whether ic-stable-structures stores it without a size (version 2
    /// nodes leave the size out of fixed-size keys).
    fn fixed(self) -> bool {
        matches!(self, Stored::Nat(_) | Stored::Bool | Stored::Bytes(_))
    }

    /// The order of the key type (`Ord`), on stored bytes: a principal's is
    /// its length first (the derived order of `Principal`), every other
    /// one's is the bytes'.
    pub fn compare(self, a: &[u8], b: &[u8]) -> Ordering {
        match self {
            Stored::Principal => a.len().cmp(&b.len()).then_with(|| a.cmp(b)),
            _ => a.cmp(b),
        }
    }

    /// The stored bytes checked against the type.
    fn check(self, bytes: &[u8]) -> Result<(), NotNative> {
        let ok = match self {
            Stored::Principal => bytes.len() <= 29,
            Stored::Nat(n) | Stored::Bytes(n) => bytes.len() == n,
            Stored::Bool => bytes == [0] || bytes == [1],
            Stored::Text => std::str::from_utf8(bytes).is_ok(),
            Stored::Blob => true,
        };
        if ok {
            Ok(())
        } else {
            not_native(format!(
                "stored bytes {} are not a {self:?}",
                hex::encode(&bytes[..bytes.len().min(40)])
            ))
        }
    }

    /// The value the canister's page carries for the stored bytes.
    pub fn to_wire(self, wire: Wire, bytes: &[u8]) -> Result<IDLValue, NotNative> {
        self.check(bytes)?;
        let nat = || bytes.iter().fold(0u64, |n, &b| (n << 8) | u64::from(b));
        Ok(match (self, wire) {
            (Stored::Principal, Wire::Candid) => IDLValue::Principal(Principal::from_slice(bytes)),
            (Stored::Principal, Wire::Text) => {
                IDLValue::Text(Principal::from_slice(bytes).to_text())
            }
            (Stored::Nat(8), Wire::Candid) => IDLValue::Nat64(nat()),
            (Stored::Nat(4), Wire::Candid) => IDLValue::Nat32(nat() as u32),
            (Stored::Nat(2), Wire::Candid) => IDLValue::Nat16(nat() as u16),
            (Stored::Nat(1), Wire::Candid) => IDLValue::Nat8(nat() as u8),
            (Stored::Nat(_), Wire::Text) => IDLValue::Text(nat().to_string()),
            (Stored::Bool, Wire::Candid) => IDLValue::Bool(bytes == [1]),
            (Stored::Text, _) => IDLValue::Text(String::from_utf8_lossy(bytes).into_owned()),
            (Stored::Blob | Stored::Bytes(_), Wire::Candid) => IDLValue::Blob(bytes.to_vec()),
            (Stored::Blob | Stored::Bytes(_), Wire::Text) => IDLValue::Text(hex::encode(bytes)),
            (stored, wire) => return not_native(format!("no {wire:?} form of a {stored:?}")),
        })
    }

    /// The stored bytes of a key as its page carries it (a cursor).
    pub fn from_wire(self, wire: Wire, value: &IDLValue) -> Result<Vec<u8>, NotNative> {
        let bad = || NotNative(format!("the key {value} is not a {self:?} as {wire:?}"));
        let bytes = match (self, value) {
            (Stored::Principal, IDLValue::Principal(p)) => p.as_slice().to_vec(),
            (Stored::Principal, IDLValue::Text(t)) if wire == Wire::Text => Principal::from_text(t)
                .map_err(|_| bad())?
                .as_slice()
                .to_vec(),
            (Stored::Nat(8), IDLValue::Nat64(v)) => v.to_be_bytes().to_vec(),
            (Stored::Nat(4), IDLValue::Nat32(v)) => v.to_be_bytes().to_vec(),
            (Stored::Nat(2), IDLValue::Nat16(v)) => v.to_be_bytes().to_vec(),
            (Stored::Nat(1), IDLValue::Nat8(v)) => vec![*v],
            (Stored::Nat(n), IDLValue::Text(t)) if wire == Wire::Text => {
                let v: u64 = t.parse().map_err(|_| bad())?;
                v.to_be_bytes()[8 - n..].to_vec()
            }
            (Stored::Bool, IDLValue::Bool(b)) => vec![u8::from(*b)],
            (Stored::Text, IDLValue::Text(t)) => t.as_bytes().to_vec(),
            (Stored::Blob | Stored::Bytes(_), IDLValue::Blob(b)) => b.clone(),
            (Stored::Blob | Stored::Bytes(_), IDLValue::Vec(items)) => items
                .iter()
                .map(|item| match item {
                    IDLValue::Nat8(b) => Ok(*b),
                    _ => Err(bad()),
                })
                .collect::<Result<_, _>>()?,
            (Stored::Blob | Stored::Bytes(_), IDLValue::Text(t)) if wire == Wire::Text => {
                hex::decode(t).map_err(|_| bad())?
            }
            _ => return Err(bad()),
        };
        self.check(&bytes)?;
        // The text must be the key's own (`KeyText` gives each key one).
        if self.to_wire(wire, &bytes)? != *value {
            return Err(bad());
        }
        Ok(bytes)
    }

    /// The standard encodings a key or value of Candid type `ty` may have
    /// when it travels as `wire`.
    pub fn candidates(env: &TypeEnv, ty: &Type, wire: Wire) -> Vec<Stored> {
        let ty = env.trace_type(ty).unwrap_or_else(|_| ty.clone());
        match (ty.as_ref(), wire) {
            (TypeInner::Principal, Wire::Candid) => vec![Stored::Principal],
            (TypeInner::Nat64, Wire::Candid) => vec![Stored::Nat(8)],
            (TypeInner::Nat32, Wire::Candid) => vec![Stored::Nat(4)],
            (TypeInner::Nat16, Wire::Candid) => vec![Stored::Nat(2)],
            (TypeInner::Nat8, Wire::Candid) => vec![Stored::Nat(1)],
            (TypeInner::Bool, Wire::Candid) => vec![Stored::Bool],
            (TypeInner::Text, Wire::Candid) => vec![Stored::Text],
            (TypeInner::Vec(item), Wire::Candid)
                if matches!(
                    env.trace_type(item).map(|t| t.as_ref().clone()),
                    Ok(TypeInner::Nat8)
                ) =>
            {
                vec![Stored::Blob]
            }
            (TypeInner::Text, Wire::Text) => vec![
                Stored::Principal,
                Stored::Text,
                Stored::Nat(8),
                Stored::Nat(4),
                Stored::Nat(2),
                Stored::Nat(1),
                Stored::Blob,
            ],
            _ => Vec::new(),
        }
    }
}

/// The part of stable memory a `MemoryManager` gave one virtual memory,
/// read through its layout (`Layout::read_virtual`), or the whole stable
/// memory of a canister that keeps one structure on it directly.
#[derive(Clone, Debug)]
pub struct VirtualMemory<'m> {
    memory: &'m [u8],
    /// The manager's layout; `None`: the whole stable memory.
    layout: Option<Layout>,
    id: u8,
    /// Its size, as the manager records it.
    len: u64,
}

impl<'m> VirtualMemory<'m> {
    /// Virtual memory `id` of the `MemoryManager` layout `layout` of `memory`.
    pub fn new(memory: &'m [u8], layout: &Layout, id: u8) -> Option<Self> {
        let len = layout.memory(id)?.size_pages * 65536;
        Some(VirtualMemory {
            memory,
            layout: Some(layout.clone()),
            id,
            len,
        })
    }

    /// The whole of `memory`, with no `MemoryManager`.
    pub fn whole(memory: &'m [u8]) -> Self {
        VirtualMemory {
            memory,
            layout: None,
            id: 0,
            len: memory.len() as u64,
        }
    }

    fn len(&self) -> u64 {
        self.len
    }

    /// The `length` bytes at `offset`, checked against the memory's size
    /// before anything is allocated (a damaged size cannot ask for more
    /// than the memory holds).
    fn read(&self, offset: u64, length: u64) -> Result<Vec<u8>, NotNative> {
        if offset.checked_add(length).is_none_or(|end| end > self.len) {
            return not_native(format!(
                "a read of {length} bytes at {offset} passes the end of the memory ({} bytes)",
                self.len
            ));
        }
        let Some(layout) = &self.layout else {
            // Within `len`, which is the memory's length.
            return Ok(self.memory[offset as usize..(offset + length) as usize].to_vec());
        };
        let mut out = vec![0; length as usize];
        layout
            .read_virtual(self.memory, self.id, offset, &mut out)
            .ok_or_else(|| NotNative("a bucket passes the end of stable memory".into()))?;
        Ok(out)
    }
}

/// What [`vec_elements`] and [`log_entries`] call with each element's index
/// and stored bytes.
pub type EachElement<'a> = dyn FnMut(u64, &[u8]) -> Result<Flow, NotNative> + 'a;

/// The elements of a `StableVec` or `StableMinHeap` (ic-stable-structures'
/// `BaseVec`: magic `SVC` or `SMH`, version 1, the number of elements, the
/// largest element's size and whether all have it, then a slot per
/// element from byte 64, a size of 1, 2 or 4 bytes before each unless all
/// are of one size), stored bytes in index order from `from`, to `each`
/// until it says [`Flow::Stop`]. A heap's elements come in its own (heap)
/// order, as the library stores them.
pub fn vec_elements(
    memory: &VirtualMemory,
    from: u64,
    each: &mut EachElement,
) -> Result<(), NotNative> {
    let head = memory.read(0, 64)?;
    if !matches!(&head[..3], b"SVC" | b"SMH") || head[3] != 1 {
        return not_native(format!(
            "expected a StableVec or StableMinHeap (magic `SVC` or `SMH`, version 1), found {}",
            hex::encode(&head[..4])
        ));
    }
    let slots = Slots::parse(&head)?;
    let Slots { len, max, slot, .. } = slots;
    if slot == 0
        || len
            .checked_mul(slot)
            .is_none_or(|bytes| 64 + bytes > memory.len())
    {
        return not_native(format!(
            "{len} elements of {slot} bytes do not fit the memory's {} bytes",
            memory.len()
        ));
    }
    for index in from..len {
        let at = 64 + index * slot;
        let bytes = memory.read(at, slot)?;
        let element = slots.element(&bytes).ok_or_else(|| {
            NotNative(format!(
                "element {index} says it is larger than the vec's {max} bytes"
            ))
        })?;
        if let Flow::Stop = each(index, element)? {
            break;
        }
    }
    Ok(())
}

/// The slots of a `StableVec` or `StableMinHeap`, from its header: its
/// length, the largest element's size and whether every element has it,
/// the size before each element (1, 2 or 4 bytes, none if fixed) and so a
/// slot's size.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slots {
    pub len: u64,
    pub max: u64,
    pub fixed: bool,
    pub prefix: u64,
    pub slot: u64,
}

impl Slots {
    /// From the header's first 17 bytes.
    pub(crate) fn parse(head: &[u8]) -> Result<Slots, NotNative> {
        let len = u64_at(head, 4)?;
        let max = u64::from(u32_at(head, 12)?);
        let fixed = head.get(16).is_some_and(|&b| b != 0);
        let prefix: u64 = match (fixed, max) {
            (true, _) => 0,
            (false, 0..=255) => 1,
            (false, 256..=65535) => 2,
            _ => 4,
        };
        Ok(Slots {
            len,
            max,
            fixed,
            prefix,
            slot: max + prefix,
        })
    }

    /// The element a slot's bytes hold; `None` if its size passes the bound.
    pub(crate) fn element<'b>(&self, slot: &'b [u8]) -> Option<&'b [u8]> {
        let size = match self.prefix {
            0 => self.max,
            1 => u64::from(*slot.first()?),
            2 => u64::from(u16::from_le_bytes([*slot.first()?, *slot.get(1)?])),
            _ => u64::from(u32_at(slot, 0).ok()?),
        };
        let start = self.prefix as usize;
        (size <= self.max).then(|| slot.get(start..start + size as usize))?
    }

    /// A slot's bytes for `element` (its size first, unless fixed).
    pub(crate) fn slot_of(&self, element: &[u8]) -> Vec<u8> {
        let size = element.len() as u64;
        let mut bytes = match self.prefix {
            0 => Vec::new(),
            1 => vec![size as u8],
            2 => (size as u16).to_le_bytes().to_vec(),
            _ => (size as u32).to_le_bytes().to_vec(),
        };
        bytes.extend_from_slice(element);
        bytes
    }
}

/// The entries of a `StableLog` (its index memory: magic `GLI`, the number
/// of entries at byte 32, then each entry's end in the data; its data
/// memory: magic `GLD`, the entries' bytes from byte 32), from index
/// `from` on, to `each` until it says [`Flow::Stop`].
pub fn log_entries(
    index: &VirtualMemory,
    data: &VirtualMemory,
    from: u64,
    each: &mut EachElement,
) -> Result<(), NotNative> {
    let (index_head, data_head) = (index.read(0, 40)?, data.read(0, 4)?);
    if &index_head[..3] != b"GLI" || &data_head[..3] != b"GLD" {
        return not_native(format!(
            "expected a StableLog (magics `GLI` and `GLD`), found {} and {}",
            hex::encode(&index_head[..3]),
            hex::encode(&data_head[..3])
        ));
    }
    let len = u64_at(&index_head, 32)?;
    if len
        .checked_mul(8)
        .is_none_or(|bytes| 40 + bytes > index.len())
    {
        return not_native(format!("a log of {len} entries does not fit its index"));
    }
    let end_of = |i: u64| -> Result<u64, NotNative> { u64_at(&index.read(40 + i * 8, 8)?, 0) };
    let mut start = if from == 0 { 0 } else { end_of(from - 1)? };
    for i in from..len {
        let end = end_of(i)?;
        if end < start {
            return not_native(format!("the log's entry {i} ends before it starts"));
        }
        let bytes = data.read(32 + start, end - start)?;
        if let Flow::Stop = each(i, &bytes)? {
            break;
        }
        start = end;
    }
    Ok(())
}

/// The value of a `StableCell` (magic `SCL`, version 1, the value's size,
/// the value from byte 8), as stored.
pub fn cell_value(memory: &VirtualMemory) -> Result<Vec<u8>, NotNative> {
    let head = memory.read(0, 8)?;
    if &head[..3] != b"SCL" || head[3] != 1 {
        return not_native(format!(
            "expected a StableCell (magic `SCL`, version 1), found {}",
            hex::encode(&head[..4])
        ));
    }
    memory.read(8, u64::from(u32_at(&head, 4)?))
}

/// A map in a virtual memory, and how its keys are stored.
#[derive(Clone, Debug)]
pub struct BTree<'m> {
    memory: VirtualMemory<'m>,
    pub header: MapHeader,
    /// The size of a version 2 node's pages (derived from the slot sizes in
    /// a map made in the version 1 layout).
    page_size: u64,
    /// Slot sizes of version 1 nodes.
    v1_slots: Option<(u64, u64)>,
    key: Stored,
}

/// One node: its entries (byte ranges of `bytes`) and children.
struct Node {
    bytes: Vec<u8>,
    keys: Vec<(usize, usize)>,
    values: Vec<(usize, usize)>,
    children: Vec<u64>,
}

impl Node {
    fn key(&self, i: usize) -> &[u8] {
        &self.bytes[self.keys[i].0..self.keys[i].1]
    }
    fn value(&self, i: usize) -> &[u8] {
        &self.bytes[self.values[i].0..self.values[i].1]
    }
}

const ENTRIES: usize = 11;

fn u32_at(bytes: &[u8], at: usize) -> Result<u32, NotNative> {
    bytes
        .get(at..at + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| NotNative(format!("a node ends before its byte {}", at + 4)))
}

fn u64_at(bytes: &[u8], at: usize) -> Result<u64, NotNative> {
    let b = bytes
        .get(at..at + 8)
        .ok_or_else(|| NotNative(format!("a node ends before its byte {}", at + 8)))?;
    let mut le = [0u8; 8];
    le.copy_from_slice(b);
    Ok(u64::from_le_bytes(le))
}

/// What [`BTree::walk`] calls with each entry's stored key and value.
pub type Each<'a> = dyn FnMut(&[u8], &[u8]) -> Result<Flow, NotNative> + 'a;

/// What [`BTree::walk`] does after an entry.
pub enum Flow {
    Go,
    Stop,
}

impl<'m> BTree<'m> {
    /// The map at the start of `memory`, its keys stored as `key`.
    pub fn open(memory: VirtualMemory<'m>, id: u8, key: Stored) -> Result<Self, NotNative> {
        let head = memory.read(0, 28)?;
        let header = MapHeader::parse(id, &head).map_err(|error| NotNative(error.to_string()))?;
        let a = u64::from(u32_at(&header.layout, 0)?);
        let b = u64::from(u32_at(&header.layout, 4)?);
        let derived = 7 + ENTRIES as u64 * (4 + a + b + 4) + (ENTRIES as u64 + 1) * 8;
        let (page_size, v1_slots) = match (header.version, b) {
            (2, 0xFFFF_FFFF) => (a, None),
            _ => (derived, Some((a, b))),
        };
        if !(128..=1 << 30).contains(&page_size) {
            return not_native(format!("a page size of {page_size} bytes"));
        }
        Ok(BTree {
            memory,
            header,
            page_size,
            v1_slots,
            key,
        })
    }

    fn node(&self, address: u64) -> Result<Node, NotNative> {
        let head = self.memory.read(address, 7)?;
        if &head[..3] != b"BTN" {
            return not_native(format!(
                "expected a node (magic `BTN`) at {address}, found {}",
                hex::encode(&head[..3])
            ));
        }
        let internal = match head[4] {
            0 => false,
            1 => true,
            other => return not_native(format!("a node of type {other} at {address}")),
        };
        let count = usize::from(u16::from_le_bytes([head[5], head[6]]));
        if count > ENTRIES {
            return not_native(format!("a node of {count} entries at {address}"));
        }
        match head[3] {
            1 => self.node_v1(address, internal, count),
            2 => self.node_v2(address, internal, count),
            other => not_native(format!("a node of layout version {other} at {address}")),
        }
    }

    fn node_v1(&self, address: u64, internal: bool, count: usize) -> Result<Node, NotNative> {
        let Some((max_key, max_value)) = self.v1_slots else {
            return not_native("a version 1 node in a map with a page size");
        };
        let (max_key, max_value) = (max_key as usize, max_value as usize);
        let bytes = self.memory.read(address, self.page_size)?;
        let mut node = Node {
            keys: Vec::with_capacity(count),
            values: Vec::with_capacity(count),
            children: Vec::new(),
            bytes,
        };
        let mut at = 7;
        for _ in 0..count {
            let size = u32_at(&node.bytes, at)? as usize;
            if size > max_key {
                return not_native(format!("a key of {size} bytes in slots of {max_key}"));
            }
            node.keys.push((at + 4, at + 4 + size));
            at += 4 + max_key;
            let size = u32_at(&node.bytes, at)? as usize;
            if size > max_value {
                return not_native(format!("a value of {size} bytes in slots of {max_value}"));
            }
            node.values.push((at + 4, at + 4 + size));
            at += 4 + max_value;
        }
        if internal {
            for _ in 0..=count {
                node.children.push(u64_at(&node.bytes, at)?);
                at += 8;
            }
        }
        Ok(node)
    }

    fn node_v2(&self, address: u64, internal: bool, count: usize) -> Result<Node, NotNative> {
        // The node's bytes: its first page, then the data of each overflow page.
        let mut bytes = self.memory.read(address, self.page_size)?;
        let mut overflow = u64_at(&bytes, 7)?;
        let most = self.memory.len() / self.page_size;
        let mut pages = 0;
        while overflow != 0 {
            pages += 1;
            if pages > most {
                return not_native(format!("the overflow pages of the node at {address} loop"));
            }
            let page = self.memory.read(overflow, self.page_size)?;
            if &page[..3] != b"NOF" {
                return not_native(format!("expected an overflow page (`NOF`) at {overflow}"));
            }
            bytes.extend_from_slice(&page[11..]);
            overflow = u64_at(&page, 3)?;
        }
        let mut node = Node {
            keys: Vec::with_capacity(count),
            values: Vec::with_capacity(count),
            children: Vec::new(),
            bytes,
        };
        let mut at = 15;
        if internal {
            for _ in 0..=count {
                node.children.push(u64_at(&node.bytes, at)?);
                at += 8;
            }
        }
        let sized = |at: &mut usize, fixed: Option<usize>, node: &Node| {
            let size = match fixed {
                Some(size) => size,
                None => {
                    let size = u32_at(&node.bytes, *at)? as usize;
                    *at += 4;
                    size
                }
            };
            let range = (*at, *at + size);
            if range.1 > node.bytes.len() {
                return not_native(format!("an entry passes the end of the node at {address}"));
            }
            *at = range.1;
            Ok(range)
        };
        let fixed_key = match self.key {
            Stored::Nat(n) | Stored::Bytes(n) => Some(n),
            Stored::Bool => Some(1),
            _ => None,
        };
        debug_assert_eq!(fixed_key.is_some(), self.key.fixed());
        for _ in 0..count {
            let range = sized(&mut at, fixed_key, &node)?;
            node.keys.push(range);
        }
        for _ in 0..count {
            let range = sized(&mut at, None, &node)?;
            node.values.push(range);
        }
        Ok(node)
    }

    /// Calls `each` with every entry (stored key and value bytes) after the
    /// key `after` up to and including `until`, in key order, until it says
    /// [`Flow::Stop`]; whether the walk reached the end of the range.
    pub fn walk(
        &self,
        after: Option<&[u8]>,
        until: Option<&[u8]>,
        each: &mut Each,
    ) -> Result<bool, NotNative> {
        if self.header.len == 0 {
            return Ok(true);
        }
        // Keys must come strictly in order, and no more of them than the
        // header counts: a damaged node that points back into the tree is
        // found at the first repeated key, not walked again and again.
        let mut last: Option<Vec<u8>> = None;
        let mut seen = 0u64;
        let (order, len) = (self.key, self.header.len);
        let mut checked = |key: &[u8], value: &[u8]| {
            if last
                .as_deref()
                .is_some_and(|last| order.compare(last, key) != Ordering::Less)
            {
                return not_native("the map's keys are out of order (a damaged node)");
            }
            seen += 1;
            if seen > len {
                return not_native(format!(
                    "the map holds more than the {len} entries its header counts"
                ));
            }
            match &mut last {
                Some(last) => {
                    last.clear();
                    last.extend_from_slice(key);
                }
                None => last = Some(key.to_vec()),
            }
            each(key, value)
        };
        let walked = self.walk_node(self.header.root_addr, after, until, &mut checked, 0)?;
        Ok(!matches!(walked, Walked::Stopped))
    }

    fn walk_node(
        &self,
        address: u64,
        after: Option<&[u8]>,
        until: Option<&[u8]>,
        each: &mut Each,
        depth: usize,
    ) -> Result<Walked, NotNative> {
        if depth > 64 {
            return not_native("the map is deeper than 64 levels (a loop)");
        }
        let node = self.node(address)?;
        let count = node.keys.len();
        if !node.children.is_empty() && node.children.len() != count + 1 {
            return not_native(format!(
                "the node at {address} has the wrong number of children"
            ));
        }
        let start = match after {
            None => 0,
            Some(after) => {
                { (0..count).find(|&i| self.key.compare(node.key(i), after) == Ordering::Greater) }
                    .unwrap_or(count)
            }
        };
        for i in start..=count {
            if let Some(&child) = node.children.get(i) {
                let bound = if i == start { after } else { None };
                match self.walk_node(child, bound, until, each, depth + 1)? {
                    Walked::Whole => {}
                    ended => return Ok(ended),
                }
            }
            if i < count {
                let key = node.key(i);
                if until.is_some_and(|until| self.key.compare(key, until) == Ordering::Greater) {
                    return Ok(Walked::PastUntil);
                }
                if let Flow::Stop = each(key, node.value(i))? {
                    return Ok(Walked::Stopped);
                }
            }
        }
        Ok(Walked::Whole)
    }
}

/// How the walk of a subtree ended.
enum Walked {
    /// Every entry of it after `after` was given.
    Whole,
    /// At a key past `until`: the range is whole.
    PastUntil,
    /// `each` said [`Flow::Stop`].
    Stopped,
}

/// A structure read natively: a map's or set's B-tree, or the elements of
/// an indexed structure, whose key is its index (8 bytes, big-endian, as a
/// `u64` key is stored), a cell's value at index 0.
#[derive(Clone, Debug)]
pub enum Structure<'m> {
    /// A memory the `MemoryManager` never gave out: nothing in it yet.
    Empty,
    Tree(BTree<'m>),
    /// A `StableVec` or `StableMinHeap`.
    Elements(VirtualMemory<'m>),
    Log {
        index: VirtualMemory<'m>,
        data: VirtualMemory<'m>,
    },
    Cell(VirtualMemory<'m>),
}

impl<'m> Structure<'m> {
    /// The vec (`SVC`) or min-heap (`SMH`) in `memory`, its header checked.
    pub fn elements(memory: VirtualMemory<'m>, magic: &[u8; 3]) -> Result<Self, NotNative> {
        let head = memory.read(0, 4)?;
        if head[..3] != magic[..] || head[3] != 1 {
            return not_native(format!(
                "expected magic `{}` version 1, found {}",
                String::from_utf8_lossy(magic),
                describe(&head)
            ));
        }
        Ok(Structure::Elements(memory))
    }

    /// The log of `index` and `data`, their magics checked.
    pub fn log(index: VirtualMemory<'m>, data: VirtualMemory<'m>) -> Result<Self, NotNative> {
        for (memory, magic) in [(&index, b"GLI"), (&data, b"GLD")] {
            let head = memory.read(0, 4)?;
            if head[..3] != magic[..] {
                return not_native(format!(
                    "expected magic `{}`, found {}",
                    String::from_utf8_lossy(magic),
                    describe(&head)
                ));
            }
        }
        Ok(Structure::Log { index, data })
    }

    /// The cell in `memory`, its header checked.
    pub fn cell(memory: VirtualMemory<'m>) -> Result<Self, NotNative> {
        cell_value(&memory)?;
        Ok(Structure::Cell(memory))
    }

    /// How many entries it holds, as its header says.
    pub fn len(&self) -> Result<u64, NotNative> {
        match self {
            Structure::Empty => Ok(0),
            Structure::Tree(tree) => Ok(tree.header.len),
            Structure::Elements(memory) => u64_at(&memory.read(0, 12)?, 4),
            Structure::Log { index, .. } => u64_at(&index.read(0, 40)?, 32),
            Structure::Cell(_) => Ok(1),
        }
    }

    /// Whether it holds no entry.
    pub fn is_empty(&self) -> Result<bool, NotNative> {
        self.len().map(|len| len == 0)
    }

    /// Calls `each` with every entry (stored key, or index, and value bytes)
    /// after `after` up to and including `until`, in order, until it says
    /// [`Flow::Stop`]; whether the walk reached the end of the range.
    pub fn walk(
        &self,
        after: Option<&[u8]>,
        until: Option<&[u8]>,
        each: &mut Each,
    ) -> Result<bool, NotNative> {
        if let Structure::Tree(tree) = self {
            return tree.walk(after, until, each);
        }
        let index_of = |bytes: &[u8]| -> Result<u64, NotNative> {
            let bytes: [u8; 8] = bytes
                .try_into()
                .map_err(|_| NotNative(format!("an index of {} bytes", bytes.len())))?;
            Ok(u64::from_be_bytes(bytes))
        };
        let from = match after.map(index_of).transpose()? {
            None => 0,
            Some(after) => after.saturating_add(1),
        };
        let until = until.map(index_of).transpose()?;
        let mut stopped = false;
        let mut element = |index: u64, value: &[u8]| -> Result<Flow, NotNative> {
            if until.is_some_and(|until| index > until) {
                return Ok(Flow::Stop);
            }
            let flow = each(&index.to_be_bytes(), value)?;
            stopped = matches!(flow, Flow::Stop);
            Ok(flow)
        };
        match self {
            Structure::Empty | Structure::Tree(_) => {}
            Structure::Elements(memory) => vec_elements(memory, from, &mut element)?,
            Structure::Log { index, data } => log_entries(index, data, from, &mut element)?,
            Structure::Cell(memory) => {
                if from == 0 {
                    element(0, &cell_value(memory)?)?;
                }
            }
        }
        Ok(!stopped)
    }
}

/// The first bytes of a header, for a message: its magic as text when it
/// is letters, else hex.
fn describe(head: &[u8]) -> String {
    let magic = &head[..head.len().min(3)];
    if magic.iter().all(u8::is_ascii_uppercase) {
        format!("`{}`", String::from_utf8_lossy(magic))
    } else if magic.iter().all(|&b| b == 0) {
        "zeros (nothing written there)".into()
    } else {
        format!("bytes {}", hex::encode(magic))
    }
}

/// A structure read natively: where it is, and how its keys and values
/// become the values the canister's pages carry.
#[derive(Clone, Debug)]
pub struct NativeMap<'m> {
    pub structure: Structure<'m>,
    pub memory_id: u8,
    pub key: KeyForm,
    pub value: ValueForm,
}

/// Entries whose key and value take more bytes than this are left to the
/// canister, which knows exactly which it skips as too large for a
/// restore call (2 MiB of ingress, less the argument's header).
pub const LARGEST_NATIVE_ENTRY: usize = 1_700_000;

impl NativeMap<'_> {
    /// The key and value the canister's page carries for a stored entry.
    pub fn entry(
        &self,
        env: &TypeEnv,
        value_type: &Type,
        key: &[u8],
        value: &[u8],
    ) -> Result<(IDLValue, IDLValue), NotNative> {
        if key.len() + value.len() > LARGEST_NATIVE_ENTRY {
            return not_native(format!(
                "an entry of {} bytes, near the limit of a restore call",
                key.len() + value.len()
            ));
        }
        let key_value = self.key.stored.to_wire(self.key.wire, key)?;
        let value = self.value.decode(env, value_type, &key_value, value)?;
        Ok((key_value, value))
    }
}

impl ValueForm {
    /// The Candid value of type `value_type` a page carries for a stored
    /// value, checked against the form; `at` (its key or index) names it
    /// in errors.
    pub fn decode(
        &self,
        env: &TypeEnv,
        value_type: &Type,
        at: &IDLValue,
        value: &[u8],
    ) -> Result<IDLValue, NotNative> {
        let one = |decoded: Result<IDLArgs, candid::Error>,
                   failed: &dyn Fn(candid::Error) -> String,
                   not_one: String| {
            let mut args = decoded.map_err(|error| NotNative(failed(error)))?;
            match args.args.pop() {
                Some(value) if args.args.is_empty() => Ok(value),
                _ => Err(NotNative(not_one)),
            }
        };
        let decoded =
            || IDLArgs::from_bytes_with_types(value, env, std::slice::from_ref(value_type));
        match self {
            ValueForm::Stored(stored) => stored.to_wire(Wire::Candid, value),
            ValueForm::Unit if value.is_empty() => Ok(IDLValue::Null),
            ValueForm::Unit => not_native(format!(
                "the key {at} has a value of {} bytes where a set keeps none",
                value.len()
            )),
            ValueForm::Typed => one(
                decoded(),
                &|error| {
                    format!(
                        "the value at {at} ({} bytes{}) does not decode as {value_type}: {}",
                        value.len(),
                        if value.starts_with(b"DIDL") {
                            ""
                        } else {
                            ", not Candid"
                        },
                        decode_reason(&error.to_string())
                    )
                },
                format!("the value at {at} is not one Candid value"),
            ),
            ValueForm::Candid { header, shape } => {
                if !value.starts_with(header) || !shape.accepts(&value[header.len()..]) {
                    return not_native(format!(
                        "the value of the key {at} is not Candid of the map's usual header"
                    ));
                }
                one(
                    decoded(),
                    &|error| format!("the value of the key {at}: {error}"),
                    "a value that is not one Candid value".into(),
                )
            }
        }
    }

    /// The bytes a canister stores for the Candid value `value` of type
    /// `value_type` in this form (the `Candid` and `Typed` forms: one
    /// Candid message of that type).
    pub fn encode(
        &self,
        env: &TypeEnv,
        value_type: &Type,
        value: &IDLValue,
    ) -> Result<Vec<u8>, NotNative> {
        match self {
            ValueForm::Stored(stored) => stored.from_wire(Wire::Candid, value),
            ValueForm::Unit => Ok(Vec::new()),
            ValueForm::Typed | ValueForm::Candid { .. } => {
                IDLArgs::new(std::slice::from_ref(value))
                    .to_bytes_with_types(env, std::slice::from_ref(value_type))
                    .map_err(|error| NotNative(error.to_string()))
            }
        }
    }
}

/// The part of a Candid decoding error that says what did not match:
/// candid prints the input, its type table and the whole environment
/// before it, which would bury the reason.
fn decode_reason(error: &str) -> String {
    let reason = match error.rfind("wire_type:") {
        Some(at) => &error[at..],
        None => error.lines().next().unwrap_or(error),
    };
    let reason = reason.split_whitespace().collect::<Vec<_>>().join(" ");
    match reason.char_indices().nth(400) {
        Some((at, _)) => format!("{}…", &reason[..at]),
        None => reason,
    }
}

/// How values of Candid type `ty` could be stored, seen from the first one.
pub fn value_forms(env: &TypeEnv, ty: &Type, first: &[u8]) -> Vec<ValueForm> {
    let mut forms: Vec<ValueForm> = Stored::candidates(env, ty, Wire::Candid)
        .into_iter()
        .map(ValueForm::Stored)
        .collect();
    if let Some((shape, len)) = Shape::parse_prefix(first) {
        forms.insert(
            0,
            ValueForm::Candid {
                header: first[..len].to_vec(),
                shape,
            },
        );
    }
    forms
}

pub mod write;

#[cfg(test)]
mod tests;

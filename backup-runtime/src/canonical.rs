//! Whether bytes are exactly what `candid::encode_one` writes for some value
//! of a known type, checked without decoding them.
//!
//! Backup pages put the stored bytes of a [`CandidBytes`](crate::CandidBytes)
//! value into the reply as they are when this accepts them, and decode and
//! encode the value as before when it does not. It therefore only has to be
//! sound: bytes it accepts decode as the type and encode back to themselves.
//! A stored value that a bug or an old layout damaged is refused here, then
//! decoded, and the canister's own `Storable` reports it as it always did.
//!
//! What is refused that a decoder would take: integer and length encodings
//! longer than needed, `nat` and `int` beyond 64 bits, a principal given as
//! an opaque reference, `func` and `service` types, vectors with more
//! elements than bytes left. Values of any depth are checked: the walk keeps
//! its place on the heap, not on the call stack.

/// The header (`DIDL`, type table, argument type) `candid::encode_one`
/// writes for a value of `T`, found from the type alone.
pub fn header_of<T: candid::CandidType>() -> Result<Vec<u8>, candid::Error> {
    // As `candid::IDLBuilder::new` does, so the table is the one it writes.
    candid::types::internal::env_clear();
    let mut types = candid::ser::TypeSerialize::new();
    types.push_type(&T::ty())?;
    types.serialize()?;
    Ok([b"DIDL".as_slice(), types.get_result()].concat())
}

/// How many records in a row the check expands without reading a byte
/// before it gives up (and the value is decoded instead).
const MAX_IDLE: usize = 4096;

/// How many pairs of types [`Shape::same_type`] compares before it gives up
/// (the message is then decoded): it recurses over the type table, never
/// over values.
const MAX_PAIRS: usize = 256;

/// Where a type is: a primitive's opcode, or an entry of the type table.
#[derive(Clone, Copy, Debug)]
enum Ty {
    Primitive(i64),
    Entry(usize),
}

#[derive(Clone, Debug)]
enum Compound {
    Opt(Ty),
    Vec(Ty),
    /// The fields' ids and types, in the order of their ids.
    Record(Vec<(u32, Ty)>),
    /// The alternatives' ids and types, in the order of their ids.
    Variant(Vec<(u32, Ty)>),
}

const NULL: i64 = -1;
const BOOL: i64 = -2;
const NAT: i64 = -3;
const INT: i64 = -4;
const NAT8: i64 = -5;
const NAT16: i64 = -6;
const NAT32: i64 = -7;
const NAT64: i64 = -8;
const INT8: i64 = -9;
const INT16: i64 = -10;
const INT32: i64 = -11;
const INT64: i64 = -12;
const FLOAT32: i64 = -13;
const FLOAT64: i64 = -14;
const TEXT: i64 = -15;
const RESERVED: i64 = -16;
const EMPTY: i64 = -17;
const OPT: i64 = -18;
const VEC: i64 = -19;
const RECORD: i64 = -20;
const VARIANT: i64 = -21;
const PRINCIPAL: i64 = -24;

/// The types a Candid message header declares: its type table and its
/// arguments' types.
#[derive(Clone, Debug)]
pub struct Shape {
    table: Vec<Compound>,
    args: Vec<Ty>,
}

impl Shape {
    /// The shape of `header` (`DIDL`, the type table, the argument types and
    /// nothing after them), or `None` where it holds what is not checked
    /// here (`func`, `service`, future types) or is not a header at all.
    pub fn parse(header: &[u8]) -> Option<Shape> {
        Shape::parse_prefix(header).and_then(|(shape, len)| (len == header.len()).then_some(shape))
    }

    /// The shape of the header `message` starts with, and the header's length.
    pub fn parse_prefix(message: &[u8]) -> Option<(Shape, usize)> {
        let mut reader = Reader::new(message);
        if reader.take(4)? != b"DIDL" {
            return None;
        }
        let entries = reader.count()?;
        let mut table = Vec::with_capacity(entries);
        for _ in 0..entries {
            let compound = match reader.sleb()? {
                OPT => Compound::Opt(reader.ty(entries)?),
                VEC => Compound::Vec(reader.ty(entries)?),
                opcode @ (RECORD | VARIANT) => {
                    let fields = reader.count()?;
                    let mut types = Vec::with_capacity(fields);
                    let mut last = None;
                    for _ in 0..fields {
                        let id = u32::try_from(reader.uleb()?).ok()?;
                        if last.is_some_and(|last| id <= last) {
                            return None;
                        }
                        last = Some(id);
                        types.push((id, reader.ty(entries)?));
                    }
                    if opcode == RECORD {
                        Compound::Record(types)
                    } else {
                        Compound::Variant(types)
                    }
                }
                _ => return None,
            };
            table.push(compound);
        }
        let arguments = reader.count()?;
        let args = (0..arguments)
            .map(|_| reader.ty(entries))
            .collect::<Option<Vec<_>>>()?;
        Some((Shape { table, args }, reader.at))
    }

    /// Whether type `mine` of this shape and type `theirs` of `other` are the
    /// same type (same structure, field ids and primitives), so that a value
    /// encoded as one is, byte for byte, a value of the other.
    fn same_type(
        &self,
        mine: Ty,
        other: &Shape,
        theirs: Ty,
        assumed: &mut Vec<(usize, usize)>,
    ) -> bool {
        let (i, j) = match (mine, theirs) {
            (Ty::Primitive(a), Ty::Primitive(b)) => return a == b,
            (Ty::Entry(i), Ty::Entry(j)) => (i, j),
            _ => return false,
        };
        // Recursive types: a pair already being compared is taken as equal.
        if assumed.contains(&(i, j)) {
            return true;
        }
        if assumed.len() >= MAX_PAIRS {
            return false;
        }
        assumed.push((i, j));
        let fields = |a: &[(u32, Ty)], b: &[(u32, Ty)], assumed: &mut Vec<(usize, usize)>| {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|(&(x, a), &(y, b))| x == y && self.same_type(a, other, b, assumed))
        };
        match (&self.table[i], &other.table[j]) {
            (Compound::Opt(a), Compound::Opt(b)) | (Compound::Vec(a), Compound::Vec(b)) => {
                self.same_type(*a, other, *b, assumed)
            }
            (Compound::Record(a), Compound::Record(b))
            | (Compound::Variant(a), Compound::Variant(b)) => fields(a, b, assumed),
            _ => false,
        }
    }

    /// The entries of `message`, a Candid message whose one argument is
    /// `vec record { K; V }` as this shape (the header of that type)
    /// declares it: each entry's key bytes and value bytes, as
    /// [`Shape::accepts`] checks them. `None` when the message declares
    /// another type (a subtype a decoder would convert, say) or a value is
    /// not in the form `candid` writes: the message is then decoded.
    pub fn split_entries<'a>(&self, message: &'a [u8]) -> Option<Vec<(&'a [u8], &'a [u8])>> {
        let (theirs, header) = Shape::parse_prefix(message)?;
        let (&[mine], &[their_arg]) = (self.args.as_slice(), theirs.args.as_slice()) else {
            return None;
        };
        if !self.same_type(mine, &theirs, their_arg, &mut Vec::new()) {
            return None;
        }
        let Ty::Entry(vec) = mine else { return None };
        let Compound::Vec(Ty::Entry(record)) = self.table[vec] else {
            return None;
        };
        let Compound::Record(fields) = &self.table[record] else {
            return None;
        };
        let &[(0, key), (1, value)] = fields.as_slice() else {
            return None;
        };
        let mut reader = Reader::new(&message[header..]);
        let count = reader.len()?;
        let mut entries = Vec::with_capacity(count);
        for _ in 0..count {
            let start = reader.at;
            self.value(&mut reader, key)?;
            let middle = reader.at;
            self.value(&mut reader, value)?;
            entries.push((
                &reader.bytes[start..middle],
                &reader.bytes[middle..reader.at],
            ));
        }
        reader.at_end().then_some(entries)
    }

    /// Whether `values` (what follows the header) is exactly the encoding
    /// of one value of each argument type, with nothing after them.
    pub fn accepts(&self, values: &[u8]) -> bool {
        let mut reader = Reader::new(values);
        self.args
            .iter()
            .all(|&ty| self.value(&mut reader, ty).is_some())
            && reader.at_end()
    }

    /// Reads one value of type `ty`, at any depth: the walk keeps what is
    /// left to read on a stack of its own (on the heap), never on the
    /// canister's call stack, so a value as deep as the canister could store
    /// is checked (and spliced) without a trap.
    fn value(&self, reader: &mut Reader, ty: Ty) -> Option<()> {
        enum Task {
            Value(Ty),
            /// `left` more elements of a vector; `start` is where the one
            /// before began (each element must take a byte or more).
            Elements {
                element: Ty,
                left: u64,
                start: Option<usize>,
            },
        }
        let mut tasks = vec![Task::Value(ty)];
        // Records read no byte: a walk that expands this many in a row
        // without reading one (a type whose only values are empty records
        // nested without end, or an odd wide one) is left to the decoder.
        let mut idle = 0usize;
        let mut last_at = reader.at;
        while let Some(task) = tasks.pop() {
            if reader.at != last_at {
                (idle, last_at) = (0, reader.at);
            }
            let ty = match task {
                Task::Value(ty) => ty,
                Task::Elements {
                    element,
                    left,
                    start,
                } => {
                    if start.is_some_and(|start| start == reader.at) {
                        return None;
                    }
                    if left > 0 {
                        tasks.push(Task::Elements {
                            element,
                            left: left - 1,
                            start: Some(reader.at),
                        });
                        tasks.push(Task::Value(element));
                    }
                    continue;
                }
            };
            let index = match ty {
                Ty::Primitive(opcode) => {
                    primitive(reader, opcode)?;
                    continue;
                }
                Ty::Entry(index) => index,
            };
            match &self.table[index] {
                Compound::Opt(inner) => match reader.byte()? {
                    0 => {}
                    1 => tasks.push(Task::Value(*inner)),
                    _ => return None,
                },
                Compound::Vec(element) => {
                    let len = reader.uleb()?;
                    // Every element this accepts takes a byte or more; a
                    // longer vector (of nulls, say) is left to the decoder.
                    if len > reader.left() as u64 {
                        return None;
                    }
                    if let Ty::Primitive(opcode) = element {
                        if let Some(size) = fixed_size(*opcode) {
                            // Checked: on wasm32 a long vector of wide
                            // elements would wrap around to a short take.
                            let bytes = usize::try_from(len).ok()?.checked_mul(size)?;
                            reader.take(bytes)?;
                            continue;
                        }
                    }
                    tasks.push(Task::Elements {
                        element: *element,
                        left: len,
                        start: None,
                    });
                }
                Compound::Record(fields) => {
                    idle += 1;
                    if idle > MAX_IDLE {
                        return None;
                    }
                    tasks.extend(fields.iter().rev().map(|&(_, field)| Task::Value(field)));
                }
                Compound::Variant(alternatives) => {
                    let chosen = usize::try_from(reader.uleb()?).ok()?;
                    tasks.push(Task::Value(alternatives.get(chosen)?.1));
                }
            }
        }
        Some(())
    }
}

/// The size of a primitive whose encoding has a fixed size of a byte or more.
fn fixed_size(opcode: i64) -> Option<usize> {
    match opcode {
        NAT8 | INT8 => Some(1),
        NAT16 | INT16 => Some(2),
        NAT32 | INT32 | FLOAT32 => Some(4),
        NAT64 | INT64 | FLOAT64 => Some(8),
        _ => None,
    }
}

/// Whether `bytes` are UTF-8: eight bytes at a time while they are ASCII
/// (a quarter of what `str::from_utf8` costs a canister on long text), the
/// standard check from the first other byte on.
fn utf8(bytes: &[u8]) -> bool {
    let mut chunks = bytes.chunks_exact(8);
    let mut ascii = 0;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0x80; 8]));
        if word & 0x8080_8080_8080_8080 != 0 {
            break;
        }
        ascii += 8;
    }
    std::str::from_utf8(&bytes[ascii..]).is_ok()
}

fn primitive(reader: &mut Reader, opcode: i64) -> Option<()> {
    if let Some(size) = fixed_size(opcode) {
        return reader.take(size).map(drop);
    }
    match opcode {
        NULL | RESERVED => Some(()),
        BOOL => (reader.byte()? <= 1).then_some(()),
        NAT => reader.uleb().map(drop),
        INT => reader.sleb().map(drop),
        TEXT => {
            let len = reader.len()?;
            utf8(reader.take(len)?).then_some(())
        }
        PRINCIPAL => {
            // 1 and the bytes; 0 would be an opaque reference.
            if reader.byte()? != 1 {
                return None;
            }
            let len = reader.len()?;
            (len <= 29).then_some(())?;
            reader.take(len).map(drop)
        }
        _ => None,
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, at: 0 }
    }

    fn left(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn at_end(&self) -> bool {
        self.at == self.bytes.len()
    }

    fn byte(&mut self) -> Option<u8> {
        let byte = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(byte)
    }

    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(len)?;
        let taken = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(taken)
    }

    /// An unsigned LEB128 of at most 64 bits, in its shortest form.
    fn uleb(&mut self) -> Option<u64> {
        let start = self.at;
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                return None;
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                // The shortest form never ends in a zero byte after others.
                return (byte != 0 || self.at - start == 1).then_some(value);
            }
        }
        None
    }

    /// A signed LEB128 of at most 64 bits, in its shortest form.
    fn sleb(&mut self) -> Option<i64> {
        let start = self.at;
        let mut value = 0i128;
        let mut shift = 0;
        loop {
            let byte = self.byte()?;
            value |= i128::from(byte & 0x7f) << shift;
            shift += 7;
            if byte & 0x80 == 0 {
                if byte & 0x40 != 0 {
                    value -= 1i128 << shift;
                }
                let value = i64::try_from(value).ok()?;
                return (self.at - start == sleb_len(value)).then_some(value);
            }
            if shift >= 70 {
                return None;
            }
        }
    }

    /// A length or count: an unsigned LEB128 no larger than the bytes left,
    /// since every one of the things it counts takes a byte or more.
    fn len(&mut self) -> Option<usize> {
        let len = self.uleb()?;
        (len <= self.left() as u64).then_some(len as usize)
    }

    fn count(&mut self) -> Option<usize> {
        self.len()
    }

    /// A type reference of the type table: an entry below `entries`, or a
    /// primitive type that values of are checked here.
    fn ty(&mut self, entries: usize) -> Option<Ty> {
        let reference = self.sleb()?;
        if reference >= 0 {
            let index = usize::try_from(reference).ok()?;
            return (index < entries).then_some(Ty::Entry(index));
        }
        match reference {
            PRINCIPAL | EMPTY..=NULL => Some(Ty::Primitive(reference)),
            _ => None,
        }
    }
}

/// The length of the shortest signed LEB128 of `value`.
fn sleb_len(mut value: i64) -> usize {
    let mut len = 1;
    loop {
        let byte = value & 0x7f;
        value >>= 7;
        if (value == 0 && byte & 0x40 == 0) || (value == -1 && byte & 0x40 != 0) {
            return len;
        }
        len += 1;
    }
}

#[cfg(test)]
mod tests;

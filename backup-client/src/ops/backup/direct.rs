//! Offline backups read straight from the image: the map's stored bytes
//! decoded natively ([`crate::native`]), on every core, where the canister's
//! first page proves the reader gives what its wasm gives.
//!
//! The proof, before anything is written: the canister's own first page
//! (its wasm, in the runner) is read, and the map is found among the image's
//! memories by its length and that page, entry by entry, with the key
//! encoding among the standard ones and the value encoding (Candid of one
//! header, or a standard one) that reproduce it exactly. Each later value
//! must have that header and a canonical body. Anything else (a value of
//! another header, an entry near a restore call's limit, a damaged node)
//! stops the native reading where it is: what it wrote stays, recorded, and
//! the canister's pages go on from there. The file is the same either way.

use super::{page_request, Lines, Page, SpanProgress, Spans};
use crate::error::{Error, Result};
use crate::interface::{Interface, MapTypes};
use crate::json::{from_json, to_json, Codec, Format};
use crate::layout::Kind;
use crate::native::{
    BTree, Flow, KeyForm, NativeMap, NotNative, Stored, Structure, ValueForm, VirtualMemory, Wire,
};
use crate::target::Target;
use backup_runtime::image::Layout;
use candid::types::TypeInner;
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex};

/// The first page the canister is asked for (at most; `--max-bytes` may
/// ask less): enough entries to pin the encodings, little of the map.
const PROOF_PAGE_BYTES: u64 = 256 * 1024;

/// How many bytes of lines a worker hands over at once (one recorded
/// step), unless `--max-bytes` says.
const BATCH_BYTES: u64 = 2 << 20;

/// Where the structure is and how it is stored, as the canister's first
/// page showed (a map) or a layout file says.
pub(crate) struct Plan {
    kind: Kind,
    /// Its memory of the `MemoryManager` (a log's index); `None`: the whole
    /// stable memory.
    memory_id: Option<u8>,
    /// A log's data memory.
    data_memory_id: Option<u8>,
    key: KeyForm,
    value: ValueForm,
}

impl Plan {
    /// The structure in `memory` (the stable memory the plan was made on).
    /// A memory the `MemoryManager` never gave out holds an empty
    /// structure, as the canister would find it; but a cell's value is
    /// then the canister's default, which is not in stable memory.
    pub(crate) fn open<'m>(
        &self,
        memory: &'m [u8],
    ) -> std::result::Result<NativeMap<'m>, NotNative> {
        let layout = match self.memory_id {
            Some(_) => Some(
                Layout::parse_header(memory, memory.len() as u64)
                    .map_err(|error| NotNative(error.to_string()))?,
            ),
            None => None,
        };
        let virtual_of = |id: Option<u8>| match (&layout, id) {
            (Some(layout), Some(id)) => VirtualMemory::new(memory, layout, id),
            _ => Some(VirtualMemory::whole(memory)),
        };
        let main = virtual_of(self.memory_id);
        let structure = match (self.kind, main) {
            (Kind::Cell, None) => {
                return Err(NotNative(
                    "the memory was never used, so the cell holds the canister's default value, which is not in stable memory".into(),
                ))
            }
            (_, None) => Structure::Empty,
            (Kind::Map | Kind::Set, Some(main)) => Structure::Tree(BTree::open(
                main,
                self.memory_id.unwrap_or(0),
                self.key.stored,
            )?),
            (Kind::Vec, Some(main)) => Structure::elements(main, b"SVC")?,
            (Kind::MinHeap, Some(main)) => Structure::elements(main, b"SMH")?,
            (Kind::Cell, Some(main)) => Structure::cell(main)?,
            (Kind::Log, Some(index)) => match virtual_of(self.data_memory_id) {
                Some(data) => Structure::log(index, data)?,
                None => Structure::Empty,
            },
        };
        Ok(NativeMap {
            structure,
            memory_id: self.memory_id.unwrap_or(0),
            key: self.key,
            value: self.value.clone(),
        })
    }

    /// How its keys are stored and travel.
    pub(crate) fn key(&self) -> KeyForm {
        self.key
    }

    /// How its values are stored.
    pub(crate) fn value(&self) -> &ValueForm {
        &self.value
    }

    /// The plan a layout file gives for `structure`: keys of a standard
    /// encoding (an index: a `u64`'s), values of a standard encoding where
    /// their type has one, Candid otherwise.
    pub(crate) fn of_layout(
        structure: &crate::layout::Structure,
        interface: &Interface,
        types: &MapTypes,
    ) -> Result<Plan> {
        let env = &interface.env;
        let name = &structure.name;
        let key = match structure.kind {
            Kind::Map | Kind::Set => {
                let Some(&stored) = Stored::candidates(env, &types.key, Wire::Candid).first()
                else {
                    return Err(Error::Input(format!(
                        "the layout's key type of `{name}`, {}, has no standard `Storable` encoding ic-backup reads (principal, nat8, nat16, nat32, nat64, bool, text, blob): the order of keys stored another way is the canister's own",
                        types.key
                    )));
                };
                KeyForm {
                    stored,
                    wire: Wire::Candid,
                }
            }
            _ => KeyForm {
                stored: Stored::Nat(8),
                wire: Wire::Candid,
            },
        };
        let value = match structure.kind {
            Kind::Set => ValueForm::Unit,
            _ => match Stored::candidates(env, &types.value, Wire::Candid).first() {
                Some(&stored) => ValueForm::Stored(stored),
                None => ValueForm::Typed,
            },
        };
        Ok(Plan {
            kind: structure.kind,
            memory_id: structure.memory_id,
            data_memory_id: structure.data_memory_id,
            key,
            value,
        })
    }
}

/// The first entry of `native` that does not decode (a reason naming it),
/// walking from the start; `None` when every entry does.
pub(crate) fn first_undecodable(
    native: &NativeMap,
    interface: &Interface,
    types: &MapTypes,
    only_first: bool,
) -> Option<NotNative> {
    let walked = native.structure.walk(None, None, &mut |key, value| {
        native.entry(&interface.env, &types.value, key, value)?;
        Ok(if only_first { Flow::Stop } else { Flow::Go })
    });
    walked.err()
}

/// Whether `native` gives exactly `page`'s entries from the map's start.
fn gives(native: &NativeMap, interface: &Interface, types: &MapTypes, page: &Page) -> bool {
    let mut at = 0;
    let mut last = None;
    let walked = native.structure.walk(None, None, &mut |key, value| {
        let entry = native.entry(&interface.env, &types.value, key, value)?;
        if page.entries.get(at) != Some(&entry) {
            return Err(NotNative(String::new()));
        }
        at += 1;
        last = Some(entry.0);
        Ok(if at == page.entries.len() {
            Flow::Stop
        } else {
            Flow::Go
        })
    });
    walked.is_ok() && at == page.entries.len() && (page.next.is_none() || page.next == last)
}

/// The plan for reading `map` natively, when the target holds the stable
/// memory and the canister's first page proves one; `None` (the canister's
/// pages, as always) otherwise.
pub(crate) fn plan(
    target: &mut dyn Target,
    interface: &Interface,
    types: &MapTypes,
    map: &str,
    max_bytes: Option<u64>,
) -> Result<Option<Plan>> {
    let method = format!("backup_{map}_page");
    if target.stable_memory().is_none() {
        return Ok(None);
    }
    let proof = max_bytes.map_or(PROOF_PAGE_BYTES, |max| max.min(PROOF_PAGE_BYTES));
    let arg = page_request(interface, types, None, Some(proof), None)?;
    // A canister that cannot answer says why on its own pages, later.
    let Ok(reply) = target.query(&method, &arg) else {
        return Ok(None);
    };
    let Ok(page) = Page::decode(&reply, &interface.env, types, &method, map) else {
        return Ok(None);
    };
    let Some(len) = page.len else {
        return Ok(None);
    };
    if page.entries.is_empty() || !page.skipped.is_empty() {
        return Ok(None);
    }
    let Some(memory) = target.stable_memory() else {
        return Ok(None);
    };
    let Ok(layout) = Layout::parse_header(memory, memory.len() as u64) else {
        return Ok(None);
    };
    let env = &interface.env;
    let is_text = matches!(
        env.trace_type(&types.key).map(|ty| ty.as_ref().clone()),
        Ok(TypeInner::Text)
    );
    let wire = if is_text { Wire::Text } else { Wire::Candid };
    let mut found = Vec::new();
    for info in &layout.memories {
        for stored in Stored::candidates(env, &types.key, wire) {
            let Some(virtual_memory) = VirtualMemory::new(memory, &layout, info.id) else {
                continue;
            };
            let Ok(tree) = BTree::open(virtual_memory, info.id, stored) else {
                continue;
            };
            if tree.header.len != len {
                continue;
            }
            let mut first = None;
            let _ = tree.walk(None, None, &mut |_, value| {
                first = Some(value.to_vec());
                Ok(Flow::Stop)
            });
            let Some(first) = first else { continue };
            let key = KeyForm { stored, wire };
            let value = crate::native::value_forms(env, &types.value, &first)
                .into_iter()
                .find(|value| {
                    let native = NativeMap {
                        structure: Structure::Tree(tree.clone()),
                        memory_id: info.id,
                        key,
                        value: value.clone(),
                    };
                    gives(&native, interface, types, &page)
                });
            if let Some(value) = value {
                found.push(Plan {
                    kind: Kind::Map,
                    memory_id: Some(info.id),
                    data_memory_id: None,
                    key,
                    value,
                });
                break;
            }
        }
    }
    // Two memories that both give the page: which one the canister reads
    // is not known here.
    Ok((found.len() == 1).then(|| found.remove(0)))
}

/// The keys (lossless JSON) that cut the map into `parts` spans of about
/// equal length: the last key of each but the last.
pub(super) fn cuts(
    native: &NativeMap,
    interface: &Interface,
    types: &MapTypes,
    parts: u64,
) -> std::result::Result<Vec<Value>, NotNative> {
    let len = native.structure.len()?;
    let every = len / parts.max(1);
    if every == 0 {
        return Ok(Vec::new());
    }
    let mut cuts = Vec::new();
    let mut at = 0u64;
    native.structure.walk(None, None, &mut |key, _| {
        at += 1;
        if at.is_multiple_of(every) && (cuts.len() as u64) < parts - 1 && at < len {
            let key = native.key.stored.to_wire(native.key.wire, key)?;
            let json = to_json(&interface.env, &types.key, &key, Format::Lossless)
                .map_err(|error| NotNative(error.to_string()))?;
            cuts.push(json);
        }
        Ok(Flow::Go)
    })?;
    Ok(cuts)
}

/// One worker's step: span `index`'s next lines, and where the span goes on
/// after them (`None`: it is whole).
struct Batch {
    index: usize,
    lines: Lines,
    cursor: Option<Value>,
}

/// A span's bounds as stored keys.
fn bound(
    native: &NativeMap,
    interface: &Interface,
    types: &MapTypes,
    key: &Value,
) -> std::result::Result<Option<Vec<u8>>, NotNative> {
    if key.is_null() {
        return Ok(None);
    }
    let key = from_json(
        &interface.env,
        &types.key,
        key,
        Format::Lossless,
        "a span's key",
    )
    .map_err(|error| NotNative(error.to_string()))?;
    native.key.stored.from_wire(native.key.wire, &key).map(Some)
}

/// Walks span after span (taken from `queue`), handing over batches of
/// lines, until the queue is empty, `stop` is set or the map is not
/// readable natively (the reason goes over as an error).
#[allow(clippy::too_many_arguments)]
fn work(
    native: &NativeMap,
    source: &str,
    map: &str,
    format: Format,
    queue: &Mutex<VecDeque<(usize, Value, Value)>>,
    batch_bytes: usize,
    stop: &AtomicBool,
    send: &mpsc::SyncSender<std::result::Result<Batch, NotNative>>,
) -> std::result::Result<(), NotNative> {
    let text = |error: Error| NotNative(error.to_string());
    // Candid's types are not shared between threads: each worker reads
    // the interface for itself.
    let interface = Interface::parse(source).map_err(text)?;
    let types = interface.map(map).map_err(text)?;
    let codec = Codec::new(&interface.env, format);
    loop {
        let next = queue.lock().ok().and_then(|mut queue| queue.pop_front());
        let Some((index, cursor, until)) = next else {
            return Ok(());
        };
        let after = bound(native, &interface, &types, &cursor)?;
        let until = bound(native, &interface, &types, &until)?;
        let mut lines = Lines::default();
        let mut last = None;
        let whole =
            native
                .structure
                .walk(after.as_deref(), until.as_deref(), &mut |key, value| {
                    if stop.load(Ordering::Relaxed) {
                        return Ok(Flow::Stop);
                    }
                    let (key, value) = native.entry(&interface.env, &types.value, key, value)?;
                    lines
                        .push(&codec, &interface.env, &types, &key, &value)
                        .map_err(text)?;
                    if lines.bytes.len() >= batch_bytes {
                        let cursor = to_json(&interface.env, &types.key, &key, Format::Lossless)
                            .map_err(text)?;
                        let batch = Batch {
                            index,
                            lines: std::mem::take(&mut lines),
                            cursor: Some(cursor),
                        };
                        if send.send(Ok(batch)).is_err() {
                            return Ok(Flow::Stop);
                        }
                    }
                    last = Some(key);
                    Ok(Flow::Go)
                })?;
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        // The walk ends at the span's end, or it stopped at a send nobody took.
        let cursor = match (whole, &last) {
            (true, _) => None,
            (false, None) => return Ok(()),
            (false, Some(key)) => {
                Some(to_json(&interface.env, &types.key, key, Format::Lossless).map_err(text)?)
            }
        };
        if send
            .send(Ok(Batch {
                index,
                lines,
                cursor,
            }))
            .is_err()
        {
            return Ok(());
        }
    }
}

/// Backs up the spans not yet whole natively, on every core, each batch
/// written durably and then recorded (`step`, which also says when to stop
/// as asked); a batch holds about `max_bytes` of lines, as a page does. `Some(reason)` when a span met what the native reader does not
/// read: the spans then go on through the canister's pages.
#[allow(clippy::too_many_arguments)]
pub(super) fn run(
    native: &NativeMap,
    spans: &mut Spans,
    source: &str,
    map: &str,
    format: Format,
    max_bytes: Option<u64>,
    step: &mut dyn FnMut(&Spans) -> Result<()>,
) -> Result<Option<NotNative>> {
    let batch_bytes = usize::try_from(max_bytes.unwrap_or(BATCH_BYTES)).unwrap_or(usize::MAX);
    let pending: VecDeque<(usize, Value, Value)> = spans
        .progress
        .spans
        .iter()
        .enumerate()
        .filter(|(_, span)| !span.done)
        .map(|(index, span): (usize, &SpanProgress)| {
            (index, span.cursor.clone(), span.until.clone())
        })
        .collect();
    let workers = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(pending.len().max(1));
    let queue = Mutex::new(pending);
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let (send, receive) = mpsc::sync_channel(2 * workers);
        for _ in 0..workers {
            let send = send.clone();
            let (queue, stop) = (&queue, &stop);
            scope.spawn(move || {
                if let Err(reason) =
                    work(native, source, map, format, queue, batch_bytes, stop, &send)
                {
                    let _ = send.send(Err(reason));
                }
            });
        }
        drop(send);
        let mut outcome = Ok(None);
        for batch in receive.iter() {
            match batch {
                Ok(Batch {
                    index,
                    lines,
                    cursor,
                }) => {
                    let done = spans
                        .commit(index, lines, Vec::new(), cursor)
                        .and_then(|()| step(spans));
                    if let Err(error) = done {
                        outcome = Err(error);
                        break;
                    }
                }
                Err(reason) => {
                    // The other workers finish the batches they hold.
                    stop.store(true, Ordering::Relaxed);
                    if matches!(outcome, Ok(None)) {
                        outcome = Ok(Some(reason));
                    }
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
        drop(receive);
        outcome
    })
}

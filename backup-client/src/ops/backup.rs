//! `backup`: a map's typed entries, page by page, into a file; resumable.
//! (`restore`, the way back, is in `restore.rs`.)

use super::{notice, output};
use crate::durable::{self, with_suffix};
use crate::error::{Error, Result};
use crate::interface::{Interface, MapTypes};
use crate::json::{from_json, to_json, Codec, Format};
use crate::progress;
use crate::resume::{PartialProgress, Resume, TargetId};
use crate::target::Target;
use candid::types::value::{IDLField, IDLValue};
use candid::types::{Type, TypeInner};
use candid::IDLArgs;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

pub(crate) mod direct;
pub(crate) use direct::plan as native_plan;

/// The marker of a lossless backup file.
pub const LOSSLESS_FORMAT: &str = "ic-backup/lossless-1";

fn field<'a>(fields: &'a [IDLField], name: &str) -> Option<&'a IDLValue> {
    field_by_id(fields, candid::idl_hash(name))
}

fn opt_type(ty: &Type) -> Type {
    TypeInner::Opt(ty.clone()).into()
}

/// `value` as an `opt` value: `null`, or `opt value`.
fn opt_value(value: Option<IDLValue>) -> IDLValue {
    value.map_or(IDLValue::None, |v| IDLValue::Opt(Box::new(v)))
}

/// The argument of `backup_<map>_page(after, max_bytes, until)`; `until`
/// is left out when `None`, for canisters whose pages take two arguments.
pub fn page_request(
    interface: &Interface,
    types: &MapTypes,
    after: Option<IDLValue>,
    max_bytes: Option<u64>,
    until: Option<IDLValue>,
) -> Result<Vec<u8>> {
    let nat64: Type = TypeInner::Nat64.into();
    let mut args = vec![opt_value(after), opt_value(max_bytes.map(IDLValue::Nat64))];
    let mut types = vec![opt_type(&types.key), opt_type(&nat64), opt_type(&types.key)];
    if until.is_some() {
        args.push(opt_value(until));
    } else {
        types.pop();
    }
    Ok(IDLArgs::new(&args).to_bytes_with_types(&interface.env, &types)?)
}

/// What `backup` is bound to: resuming needs the same canister (offline, the
/// same image, unchanged), map, types, output file and format.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct BackupBinding {
    target: TargetId,
    map: String,
    key_type: String,
    value_type: String,
    interface_sha256: String,
    output: PathBuf,
    format: String,
}

/// How far a backup got, span by span: a parallel backup cuts the map into
/// spans at keys the canister chose (`backup_<map>_splits`), each backed up
/// into its own partial file; a backup of one query at a time is one span.
#[derive(Debug, Serialize, Deserialize)]
struct BackupProgress {
    spans: Vec<SpanProgress>,
}

/// One span: the lines of `bytes` bytes (SHA-256 `partial_sha256`) of its
/// partial file hold `entries` entries, up to the key `cursor`.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct SpanProgress {
    /// The span's last key; null: to the end of the map.
    until: Value,
    /// Where its next page starts (after this key); null: at the map's start.
    cursor: Value,
    /// The span is whole in its partial file.
    done: bool,
    entries: u64,
    bytes: u64,
    partial_sha256: String,
    skipped: Vec<Value>,
    /// Numbers written so far that JavaScript does not hold exactly (agent-js form).
    lossy: u64,
    /// The key of the first entry holding one.
    first_lossy: Option<Value>,
}

impl PartialProgress for BackupProgress {
    fn prefixes(&self) -> Vec<(u64, &str)> {
        self.spans
            .iter()
            .map(|span| (span.bytes, span.partial_sha256.as_str()))
            .collect()
    }
}

impl SpanProgress {
    fn new(after: Value, until: Value) -> Self {
        SpanProgress {
            until,
            cursor: after,
            done: false,
            entries: 0,
            bytes: 0,
            partial_sha256: hex::encode(Sha256::new().finalize()),
            skipped: Vec::new(),
            lossy: 0,
            first_lossy: None,
        }
    }
}

/// The partial file of span `index`: `<output>.partial`, then `.partial.1`, ….
fn partial_of(output: &Path, index: usize) -> PathBuf {
    match index {
        0 => with_suffix(output, ".partial"),
        n => with_suffix(output, &format!(".partial.{n}")),
    }
}

/// How `ic-backup backup` runs.
pub struct BackupOptions<'a> {
    pub map: &'a str,
    pub output: &'a Path,
    pub format: Format,
    pub max_bytes: Option<u64>,
    /// Queries in flight at once; above 1, the map is cut into spans.
    pub parallel: usize,
    pub stop_after: Option<usize>,
    /// Offline, read every page through the canister's wasm, never from
    /// the image's bytes.
    pub through_wasm: bool,
    /// The structure as a layout file describes it (`--layout`): read from
    /// stable memory alone, the canister's wasm never asked.
    pub layout: Option<&'a crate::layout::Structure>,
    pub json: bool,
}

/// Spans per query in flight: spans of equal length finish together only
/// on average, so more spans than queries keep every query busy to the end.
const SPANS_PER_QUERY: usize = 4;

/// Backs up one map page by page into partial files (one per span), recording
/// after each durable page where its span goes on; then writes the backup
/// file atomically, the spans in key order. Entries too large to restore
/// are named, the file is written without them, and the command fails.
///
/// The steps: the spans to back up (those a resume left, or new ones cut
/// by the canister), their pages downloaded into the partial files
/// (`Spans::take_page`), then the file assembled and the run reported
/// (`finish`).
pub fn backup(
    target: &mut dyn Target,
    interface: &Interface,
    options: BackupOptions,
) -> Result<()> {
    let BackupOptions {
        map,
        output: output_path,
        format,
        max_bytes,
        parallel,
        stop_after,
        through_wasm,
        layout,
        json,
    } = options;
    let types = interface.map(map)?;
    types.check_carried(&interface.env, map)?;
    let env = &interface.env;
    let method = format!("backup_{map}_page");
    let binding = BackupBinding {
        target: target.id(),
        map: map.to_string(),
        key_type: types.key.to_string(),
        value_type: types.value.to_string(),
        interface_sha256: interface.sha256.clone(),
        output: durable::absolute(output_path),
        format: format!("{format:?}").to_lowercase(),
    };
    let (state, start) = Resume::<BackupBinding, BackupProgress>::open(
        &with_suffix(output_path, ".progress"),
        "backup",
        &binding,
    )?;
    // Another run's file is never cleared: its state's lock is ours now.
    durable::clear_stale(output_path)?;
    // Resume only over partial files whose recorded prefixes are all intact.
    let resumed = start.over_partials(|index| partial_of(output_path, index), json)?;
    // Offline, the map is read from the image where the canister's first
    // page proves how (`direct`).
    let plan = match (layout, through_wasm) {
        (Some(structure), _) => Some(layout_plan(target, interface, &types, structure)?),
        (None, true) => None,
        (None, false) => direct::plan(target, interface, &types, map, max_bytes)?,
    };
    let spans = match resumed {
        Some(resumed) => resumed,
        None => {
            // Spans need pages that stop at a key (`until`), should the
            // canister's pages take a span over from the native reader.
            let takes_until = interface
                .method(&method)
                .is_ok_and(|page| page.args.len() >= 3);
            let native = plan.as_ref().zip(target.stable_memory());
            let cuts = match native.map(|(plan, memory)| plan.open(memory)) {
                Some(Ok(_)) if !takes_until => Some(Vec::new()),
                Some(Ok(native)) => {
                    let parts = std::thread::available_parallelism().map_or(1, usize::from)
                        * SPANS_PER_QUERY;
                    direct::cuts(&native, interface, &types, parts as u64).ok()
                }
                _ => None,
            };
            let cuts = match cuts {
                Some(cuts) => cuts,
                None if parallel > 1 => split_keys(target, interface, &types, map, parallel, json)?,
                None => Vec::new(),
            };
            new_spans(cuts, output_path)?
        }
    };
    let mut spans = Spans::open(env, &types, map, format, output_path, spans, json)?;
    let stopped = |count: u64, pages: usize| {
        Error::Stopped(format!(
            "stopped after {pages} pages as asked; run the same command again to resume from entry {count}"
        ))
    };
    let mut read = Read::Pages;
    if let Some((plan, memory)) = plan.as_ref().zip(target.stable_memory()) {
        let native = plan.open(memory);
        let outcome = match &native {
            Ok(native) => direct::run(
                native,
                &mut spans,
                &interface.source,
                map,
                format,
                max_bytes,
                &mut |spans: &Spans| {
                    state.save(&binding, &spans.progress)?;
                    if stop_after == Some(spans.pages)
                        && spans.progress.spans.iter().any(|span| !span.done)
                    {
                        return Err(stopped(spans.entries(), spans.pages));
                    }
                    Ok(())
                },
            ),
            Err(reason) => Ok(Some(reason.clone())),
        };
        match (outcome, layout) {
            (Ok(None), _) => read = Read::Image,
            (Ok(Some(reason)), Some(structure)) => {
                spans.bar.abandon();
                // Named from the start, whichever span met it first.
                let reason = native
                    .as_ref()
                    .ok()
                    .and_then(|native| direct::first_undecodable(native, interface, &types, false))
                    .unwrap_or(reason);
                let Spans { progress, .. } = spans;
                for index in 0..progress.spans.len() {
                    durable::remove(&partial_of(output_path, index))?;
                }
                state.remove()?;
                return Err(unreadable(
                    structure,
                    &types,
                    reason,
                    "no backup file was written",
                ));
            }
            (Ok(Some(reason)), None) => spans.bar.suspend(|| {
                read = Read::ImageThenPages;
                notice(
                    json,
                    &format!("note: `{map}` is read through the canister's wasm from here on, not from the image's bytes: {reason}"),
                )
            }),
            (Err(error), _) => {
                spans.bar.abandon();
                return Err(error);
            }
        }
    }
    // Each span's end key, read once; the pages of a span all carry it.
    let untils = spans
        .progress
        .spans
        .iter()
        .map(|span| spans.key_of(&span.until, "the saved span end"))
        .collect::<Result<Vec<_>>>()?;
    let mut starts = Vec::new();
    let mut chains = Vec::new();
    for (index, span) in spans.progress.spans.iter().enumerate() {
        if !span.done {
            let after = spans.key_of(&span.cursor, "the saved cursor")?;
            let until = untils[index].clone();
            starts.push((
                method.clone(),
                page_request(interface, &types, after, max_bytes, until)?,
            ));
            chains.push(index);
        }
    }
    if stop_after == Some(0) && !starts.is_empty() {
        spans.bar.abandon();
        return Err(stopped(spans.entries(), 0));
    }
    let run = target.chains(starts, parallel.max(1), &mut |chain, reply| {
        let index = chains[chain];
        let next = spans.take_page(index, &reply, &method, map)?;
        state.save(&binding, &spans.progress)?;
        if stop_after == Some(spans.pages) && spans.progress.spans.iter().any(|span| !span.done) {
            return Err(stopped(spans.entries(), spans.pages));
        }
        next.map(|after| {
            page_request(
                interface,
                &types,
                Some(after),
                max_bytes,
                untils[index].clone(),
            )
            .map(|arg| (method.clone(), arg))
        })
        .transpose()
    });
    if let Err(error) = run {
        spans.bar.abandon();
        return Err(error);
    }
    let Spans {
        progress,
        files,
        bar,
        pages,
        ..
    } = spans;
    drop(files);
    bar.finish_and_clear();
    let done = Finished {
        target: target.id(),
        env,
        types: &types,
        map,
        output_path,
        format,
        pages,
        read,
        json,
    };
    finish(done, progress, || state.remove())
}

/// The plan for reading `structure` as a layout file describes it, from
/// the target's stable memory: refused, before anything is written, where
/// there is no stable memory to read, the memory holds another structure,
/// or its first value does not decode as the layout's type.
fn layout_plan(
    target: &dyn Target,
    interface: &Interface,
    types: &MapTypes,
    structure: &crate::layout::Structure,
) -> Result<direct::Plan> {
    let Some(memory) = target.stable_memory() else {
        return Err(Error::Input(
            "--layout reads the structure from stable memory: give an image (--image), a snapshot folder (--snapshot), or --consistent with a live canister".into(),
        ));
    };
    let plan = direct::Plan::of_layout(structure, interface, types)?;
    let refuse = |reason| unreadable(structure, types, reason, "nothing was written");
    let native = plan.open(memory).map_err(refuse)?;
    if let Some(reason) = direct::first_undecodable(&native, interface, types, true) {
        return Err(refuse(reason));
    }
    Ok(plan)
}

/// The error of a structure that is not what its layout file says it is:
/// what the layout says, why it cannot be read, and `after` (what was not
/// written).
fn unreadable(
    structure: &crate::layout::Structure,
    types: &MapTypes,
    reason: crate::native::NotNative,
    after: &str,
) -> Error {
    Error::Input(format!(
        "`{}`, a {} of {} in {} as the layout says, cannot be read: {reason}; {after}",
        structure.name,
        structure.kind,
        types.value,
        structure.place(),
    ))
}

/// The spans of a new backup, cut at the keys `cuts` (lossless JSON; none:
/// one span), each with an empty partial file to come; partial files of an
/// earlier run cut into more spans are removed.
fn new_spans(cuts: Vec<Value>, output_path: &Path) -> Result<(BackupProgress, Vec<Sha256>)> {
    let mut bounds = vec![Value::Null];
    bounds.extend(cuts);
    bounds.push(Value::Null);
    let spans: Vec<SpanProgress> = bounds
        .windows(2)
        .map(|pair| SpanProgress::new(pair[0].clone(), pair[1].clone()))
        .collect();
    let mut stale = spans.len();
    while partial_of(output_path, stale).exists() {
        durable::remove(&partial_of(output_path, stale))?;
        stale += 1;
    }
    let hashers = vec![Sha256::new(); spans.len()];
    Ok((BackupProgress { spans }, hashers))
}

/// The spans being downloaded: each one's partial file (cut back to its
/// last recorded page) and running digest, and what the run has counted.
struct Spans<'a> {
    env: &'a candid::TypeEnv,
    types: &'a MapTypes,
    codec: Codec<'a>,
    progress: BackupProgress,
    files: Vec<(std::io::BufWriter<std::fs::File>, PathBuf)>,
    hashers: Vec<Sha256>,
    bar: indicatif::ProgressBar,
    pages: usize,
    received: u64,
    json: bool,
}

impl<'a> Spans<'a> {
    fn open(
        env: &'a candid::TypeEnv,
        types: &'a MapTypes,
        map: &str,
        format: Format,
        output_path: &Path,
        (progress, hashers): (BackupProgress, Vec<Sha256>),
        json: bool,
    ) -> Result<Self> {
        // Drops anything written after each span's last recorded page.
        let mut files = Vec::new();
        for (index, span) in progress.spans.iter().enumerate() {
            let path = partial_of(output_path, index);
            let file = durable::open_partial(&path, span.bytes)?;
            files.push((std::io::BufWriter::new(file), path));
        }
        let bar = progress::bar(None, &format!("backup {map}"), false, json);
        bar.set_position(progress.spans.iter().map(|span| span.entries).sum());
        Ok(Spans {
            env,
            types,
            codec: Codec::new(env, format),
            progress,
            files,
            hashers,
            bar,
            pages: 0,
            received: 0,
            json,
        })
    }

    /// The entries written so far, over every span.
    fn entries(&self) -> u64 {
        self.progress.spans.iter().map(|span| span.entries).sum()
    }

    /// A key recorded as lossless JSON (`null`: none).
    fn key_of(&self, value: &Value, what: &str) -> Result<Option<IDLValue>> {
        match value {
            Value::Null => Ok(None),
            key => from_json(self.env, &self.types.key, key, Format::Lossless, what).map(Some),
        }
    }

    /// Writes the entries of one page of span `index` (the reply of
    /// `method`) durably into its partial file and records where the span
    /// goes on; the key its next page starts after, if any.
    fn take_page(
        &mut self,
        index: usize,
        reply: &[u8],
        method: &str,
        map: &str,
    ) -> Result<Option<IDLValue>> {
        let (env, types, json) = (self.env, self.types, self.json);
        self.received += reply.len() as u64;
        self.bar.set_message(format!(
            "backup {map}: {} received",
            indicatif::HumanBytes(self.received)
        ));
        let page = Page::decode(reply, env, types, method, map)?;
        if let Some(len) = page.len {
            self.bar.set_length(len);
        }
        let mut lines = Lines::default();
        for (key, value) in &page.entries {
            lines.push(&self.codec, env, types, key, value)?;
        }
        let mut skipped = Vec::new();
        for key in &page.skipped {
            let key = to_json(env, &types.key, key, Format::Lossless)?;
            self.bar.suspend(|| {
                notice(
                    json,
                    &format!("skipped: the entry with key {key} is too large for one restore call"),
                )
            });
            skipped.push(key);
        }
        let next = page.next;
        let cursor = match &next {
            Some(next) => Some(to_json(env, &types.key, next, Format::Lossless)?),
            None => None,
        };
        self.commit(index, lines, skipped, cursor)?;
        Ok(next)
    }

    /// Writes `lines` (one span's next entries) durably into the span's
    /// partial file and records where the span goes on: after the key
    /// `cursor` (lossless JSON), or nowhere (`None`: the span is whole).
    fn commit(
        &mut self,
        index: usize,
        lines: Lines,
        skipped: Vec<Value>,
        cursor: Option<Value>,
    ) -> Result<()> {
        let span = &mut self.progress.spans[index];
        let (file, partial) = &mut self.files[index];
        let hasher = &mut self.hashers[index];
        file.write_all(&lines.bytes)
            .map_err(|source| Error::io(partial, source))?;
        hasher.update(&lines.bytes);
        span.bytes += lines.bytes.len() as u64;
        span.entries += lines.entries;
        span.lossy += lines.lossy;
        if span.first_lossy.is_none() {
            span.first_lossy = lines.first_lossy;
        }
        span.skipped.extend(skipped);
        self.bar.inc(lines.entries);
        file.flush().map_err(|source| Error::io(partial, source))?;
        file.get_ref()
            .sync_data()
            .map_err(|source| Error::io(partial, source))?;
        self.pages += 1;
        match cursor {
            Some(cursor) => span.cursor = cursor,
            None => span.done = true,
        }
        span.partial_sha256 = hex::encode(hasher.clone().finalize());
        Ok(())
    }
}

/// A reply of `backup_<map>_page`, decoded with the interface's types.
pub(crate) struct Page {
    /// The entries, key and value, in key order.
    pub(super) entries: Vec<(IDLValue, IDLValue)>,
    /// The map's size (`None` from a canister whose pages do not say).
    pub(crate) len: Option<u64>,
    /// Where the next page starts (after this key); `None` at the end.
    pub(super) next: Option<IDLValue>,
    /// Keys of entries the page walked past, too large for one restore call
    /// (none from a canister built before pages named them).
    pub(super) skipped: Vec<IDLValue>,
}

impl Page {
    /// `reply`, the answer of `method`, as a page of `map`: its values moved
    /// out of the decoded record, not copied.
    pub(crate) fn decode(
        reply: &[u8],
        env: &candid::TypeEnv,
        types: &MapTypes,
        method: &str,
        map: &str,
    ) -> Result<Page> {
        let page = IDLArgs::from_bytes_with_types(reply, env, std::slice::from_ref(&types.page))
            .map_err(Error::candid(format!(
                "a page of `{map}`, as its interface types it"
            )))?;
        let Some(IDLValue::Record(fields)) = page.args.into_iter().next() else {
            return Err(Error::Input(format!(
                "`{method}` returned something other than a page"
            )));
        };
        let mut decoded = Page {
            entries: Vec::new(),
            len: None,
            next: None,
            skipped: Vec::new(),
        };
        let id = candid::idl_hash;
        for IDLField { id: label, val } in fields {
            match (label.get_id(), val) {
                (at, IDLValue::Vec(entries)) if at == id("entries") => {
                    for entry in entries {
                        let IDLValue::Record(pair) = entry else {
                            continue;
                        };
                        let (mut key, mut value) = (None, None);
                        for IDLField { id, val } in pair {
                            match id.get_id() {
                                0 => key = Some(val),
                                1 => value = Some(val),
                                _ => {}
                            }
                        }
                        let key =
                            key.ok_or_else(|| Error::Input("an entry without a key".into()))?;
                        let value =
                            value.ok_or_else(|| Error::Input("an entry without a value".into()))?;
                        decoded.entries.push((key, value));
                    }
                }
                (at, IDLValue::Nat64(len)) if at == id("len") => decoded.len = Some(len),
                (at, IDLValue::Opt(key)) if at == id("next") => decoded.next = Some(*key),
                (at, IDLValue::Vec(keys)) if at == id("skipped") => decoded.skipped = keys,
                _ => {}
            }
        }
        Ok(decoded)
    }
}

/// Entries as the lines of a backup file, with what they count.
#[derive(Default)]
struct Lines {
    bytes: Vec<u8>,
    entries: u64,
    /// Numbers among them JavaScript does not hold exactly (agent-js form).
    lossy: u64,
    /// The key of the first entry holding one (lossless JSON).
    first_lossy: Option<Value>,
}

impl Lines {
    /// Adds the line of the entry `key`, `value`.
    fn push(
        &mut self,
        codec: &Codec,
        env: &candid::TypeEnv,
        types: &MapTypes,
        key: &IDLValue,
        value: &IDLValue,
    ) -> Result<()> {
        let before = codec.lossy();
        let mut bytes = codec.entry_text((&types.key, &types.value), key, value)?;
        if codec.lossy() > before {
            self.lossy += codec.lossy() - before;
            if self.first_lossy.is_none() {
                self.first_lossy = Some(to_json(env, &types.key, key, Format::Lossless)?);
            }
        }
        bytes.push(b'\n');
        self.bytes.extend_from_slice(&bytes);
        self.entries += 1;
        Ok(())
    }
}

/// How a backup's entries were read.
#[derive(Clone, Copy)]
enum Read {
    /// Through the canister's pages.
    Pages,
    /// From the image's bytes, natively.
    Image,
    /// Natively until an entry the reader could not read exactly, then
    /// through the canister's pages.
    ImageThenPages,
}

impl Read {
    /// Its name in the report (`read`).
    fn name(self) -> &'static str {
        match self {
            Read::Pages => "pages",
            Read::Image => "image",
            Read::ImageThenPages => "image+pages",
        }
    }
}

/// A backup whose every span is whole in its partial file.
struct Finished<'a> {
    target: TargetId,
    env: &'a candid::TypeEnv,
    types: &'a MapTypes,
    map: &'a str,
    output_path: &'a Path,
    format: Format,
    pages: usize,
    read: Read,
    json: bool,
}

/// Writes the backup file from the spans' partial files (removed after,
/// and then the resume state, by `forget`), then reports: entries, pages,
/// inexact numbers, and entries left out (an error: the file is not the
/// whole map, but the backup is over).
fn finish(
    done: Finished,
    progress: BackupProgress,
    forget: impl FnOnce() -> Result<()>,
) -> Result<()> {
    let Finished {
        target,
        env,
        types,
        map,
        output_path,
        format,
        pages,
        read,
        json,
    } = done;
    let count: u64 = progress.spans.iter().map(|span| span.entries).sum();
    let skipped: Vec<Value> = progress
        .spans
        .iter()
        .flat_map(|span| span.skipped.iter().cloned())
        .collect();
    let lossy: u64 = progress.spans.iter().map(|span| span.lossy).sum();
    let first_lossy = progress
        .spans
        .iter()
        .find_map(|span| span.first_lossy.clone());
    // Whose backup this is: the canister (live; an offline image does not
    // know its id) and the map, checked by `restore`.
    let header = (format == Format::Lossless).then(|| {
        let mut header = json!({ "format": LOSSLESS_FORMAT });
        if let TargetId::Live { url, canister } = target {
            header["network"] = json!(url);
            header["canister"] = json!(canister);
        }
        header["map"] = json!(map);
        header["key"] = json!(types.key.to_string());
        header["value"] = json!(types.value.to_string());
        // The definitions of the named types they use, so that a restore
        // into another version can say how the types relate.
        header["types"] = json!(crate::versions::types_text(
            env,
            &[&types.key, &types.value]
        ));
        header
    });
    // Assemble the file from the lines of the partial files, one entry at a time.
    let partials: Vec<PathBuf> = (0..progress.spans.len())
        .map(|index| partial_of(output_path, index))
        .collect();
    assemble(&partials, output_path, format, header, &skipped)?;
    for partial in &partials {
        durable::remove(partial)?;
    }
    forget()?;
    let spans = progress.spans.len();
    output(
        json,
        json!({ "map": map, "entries": count, "pages": pages, "spans": spans, "file": output_path, "skipped": skipped, "inexact_numbers": lossy, "read": read.name() }),
        || {
            let how = match read {
                Read::Image => ", read from the image",
                Read::ImageThenPages => ", read from the image, then through the canister",
                Read::Pages => "",
            };
            format!(
                "{count} entries of `{map}` in {pages} pages{how} -> {}",
                output_path.display()
            )
        },
    );
    if let (n @ 1.., Some(key)) = (lossy, first_lossy) {
        notice(
            json,
            &format!(
                "warning: {n} numbers in {} are not exact in JavaScript (above 2^53 - 1, beyond 64 bits, or NaN/infinite), the first in the entry with key {key}: the article's restore.js will read them rounded. `--format lossless` keeps them exact",
                output_path.display()
            ),
        );
    }
    if !skipped.is_empty() {
        let keys: Vec<String> = skipped.iter().map(Value::to_string).collect();
        return Err(Error::Incomplete(format!(
            "{} entries of `{map}` are not in {}: each is too large for one restore call (2 MiB of ingress), so the canister left it out rather than back it up in a form restore cannot take back. Their keys: {}. They are still in the canister and in a raw dump (`ic-backup dump`).",
            skipped.len(),
            output_path.display(),
            keys.join(", ")
        )));
    }
    Ok(())
}

/// The keys (as lossless JSON) at which `backup_<map>_splits` cuts the map
/// into spans for `parallel` queries; none when the canister has no such
/// method or its pages take no end key (built before parallel backups),
/// which then back up with one query at a time.
fn split_keys(
    target: &mut dyn Target,
    interface: &Interface,
    types: &MapTypes,
    map: &str,
    parallel: usize,
    json: bool,
) -> Result<Vec<Value>> {
    let method = format!("backup_{map}_splits");
    let takes_until = interface
        .method(&format!("backup_{map}_page"))
        .is_ok_and(|page| page.args.len() >= 3);
    let signature = match interface.method(&method) {
        Ok(signature) if takes_until => signature,
        _ => {
            notice(
                json,
                &format!("this canister has no `{method}` (built before parallel backups): backing `{map}` up with one query at a time"),
            );
            return Ok(Vec::new());
        }
    };
    let parts = (parallel * SPANS_PER_QUERY).min(backup_runtime::limits::MAX_SPLITS as usize);
    let (env, nat64): (_, Type) = (&interface.env, TypeInner::Nat64.into());
    // A canister built before walks could stop between two cuts takes no
    // `walked` (and stops only at cuts).
    let takes_walked = signature.args.len() >= 3;
    let (mut after, mut walked) = (None, 0u64);
    let mut keys = Vec::new();
    loop {
        let mut args = vec![opt_value(after.take()), IDLValue::Nat64(parts as u64)];
        let mut arg_types = vec![opt_type(&types.key), nat64.clone()];
        if takes_walked {
            args.push(opt_value(Some(IDLValue::Nat64(walked))));
            arg_types.push(opt_type(&nat64));
        }
        let arg = IDLArgs::new(&args).to_bytes_with_types(env, &arg_types)?;
        let reply = target.query(&method, &arg)?;
        let splits = IDLArgs::from_bytes_with_types(&reply, env, &signature.rets)
            .map_err(Error::candid(format!("the reply of `{method}`")))?;
        let Some(IDLValue::Record(fields)) = splits.args.first() else {
            return Err(Error::Input(format!(
                "`{method}` returned something other than split keys"
            )));
        };
        if let Some(IDLValue::Vec(found)) = field(fields, "keys") {
            for key in found {
                keys.push(to_json(env, &types.key, key, Format::Lossless)?);
            }
        }
        walked = match field(fields, "walked") {
            Some(IDLValue::Nat64(walked)) => *walked,
            _ => 0,
        };
        match field(fields, "next") {
            Some(IDLValue::Opt(key)) => after = Some(key.as_ref().clone()),
            _ => return Ok(keys),
        }
    }
}

/// Writes the backup file from the partial file's lines (one entry each),
/// streaming, atomically: exactly what `serde_json::to_vec_pretty` of the
/// whole document writes (except that an entry nested deeper than
/// [`PRETTY_DEPTH`] is on one line) (`[[key, value], ...]`, or the lossless document:
/// `header`'s fields, `entries`, then `skipped` when not empty), or for
/// agent-js what `console.log(JSON.stringify(entries))` prints.
fn assemble(
    partials: &[PathBuf],
    output: &Path,
    format: Format,
    header: Option<Value>,
    skipped: &[Value],
) -> Result<()> {
    use std::io::{BufRead, Write};
    let temporary = backup_common::durable::temporary_of(output);
    let result = (|| -> Result<()> {
        let on_output = |source| Error::io(&temporary, source);
        let mut files = Vec::new();
        for partial in partials {
            let file = std::fs::File::open(partial).map_err(|e| Error::io(partial, e))?;
            files.push((std::io::BufReader::new(file), partial));
        }
        // Each line with the file it comes from, the files in order.
        let lines = files.into_iter().flat_map(|(reader, partial)| {
            reader
                .lines()
                .map(move |line| line.map_err(|source| Error::io(partial, source)))
        });
        let mut out =
            std::io::BufWriter::new(std::fs::File::create(&temporary).map_err(on_output)?);
        let mut put = |text: &str| out.write_all(text.as_bytes()).map_err(on_output);
        if format == Format::AgentJs {
            put("[")?;
            for (index, line) in lines.enumerate() {
                put(if index == 0 { "" } else { "," })?;
                put(&line?)?;
            }
            put("]\n")?;
        } else {
            // The entries array sits at depth 0 (plain) or 1 (inside the document).
            let depth = usize::from(header.is_some());
            if let Some(Value::Object(fields)) = &header {
                put("{\n")?;
                for (name, value) in fields {
                    put(&format!(
                        "  {}: {},\n",
                        Value::from(name.as_str()),
                        pretty(value, 1)?
                    ))?;
                }
                put("  \"entries\": ")?;
            }
            let mut empty = true;
            for line in lines {
                let entry: Value = crate::stream::parse_value(&line?).map_err(|error| {
                    Error::file(output, "a partial file (an entry per line)", error)
                })?;
                put(if empty { "[\n" } else { ",\n" })?;
                put(&"  ".repeat(depth + 1))?;
                put(&pretty(&entry, depth + 1)?)?;
                empty = false;
            }
            put(&if empty {
                "[]".to_string()
            } else {
                format!("\n{}]", "  ".repeat(depth))
            })?;
            if header.is_some() {
                if !skipped.is_empty() {
                    // The file says itself that it is not the whole map.
                    put(&format!(
                        ",\n  \"skipped\": {}",
                        pretty(&Value::Array(skipped.to_vec()), 1)?
                    ))?;
                }
                put("\n}")?;
            }
        }
        let file = out
            .into_inner()
            .map_err(|error| on_output(error.into_error()))?;
        file.sync_all().map_err(on_output)?;
        Ok(())
    })();
    match result {
        Ok(()) => durable::rename(&temporary, output),
        Err(error) => {
            let _ = std::fs::remove_file(&temporary);
            Err(error)
        }
    }
}

/// `value` pretty-printed as it reads nested `depth` levels deep; a value
/// nested deeper than [`PRETTY_DEPTH`] is written on one line instead (each
/// level indented would make the file grow with the square of the depth: a
/// list of 1,000 levels kept as nested options would take 4 MB of spaces).
fn pretty(value: &Value, depth: usize) -> Result<String> {
    let text = if nests_deeper_than(value, PRETTY_DEPTH) {
        serde_json::to_string(value)
    } else {
        serde_json::to_string_pretty(value)
    }
    .map_err(|error| Error::system("writing an entry as JSON", error))?;
    Ok(text.replace('\n', &format!("\n{}", "  ".repeat(depth))))
}

/// How deeply nested an entry of a backup file may be and still be written
/// one line per element.
const PRETTY_DEPTH: usize = 32;

/// Whether `value` nests more than `levels` arrays and objects deep.
fn nests_deeper_than(value: &Value, levels: usize) -> bool {
    match value {
        Value::Array(items) => {
            levels == 0 || items.iter().any(|item| nests_deeper_than(item, levels - 1))
        }
        Value::Object(fields) => {
            levels == 0
                || fields
                    .values()
                    .any(|item| nests_deeper_than(item, levels - 1))
        }
        _ => false,
    }
}

pub(super) fn field_by_id(fields: &[IDLField], id: u32) -> Option<&IDLValue> {
    fields.iter().find(|f| f.id.get_id() == id).map(|f| &f.val)
}

#[cfg(test)]
pub(super) mod tests;

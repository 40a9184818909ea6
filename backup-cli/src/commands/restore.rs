//! `restore`: a backup file back into a map, checked whole before anything
//! is written, batch by batch under the ingress limit, resumable.
//!
//! The file is read from the disk as it is needed and never held whole: once
//! to check every entry and plan the batches (remembering of each batch only
//! its size and digest, of each key only a digest), once for the canister to
//! check the batches, once to send them. A batch is sent only if it is
//! exactly the one checked.

use super::typed::{field_by_id, LOSSLESS_FORMAT};
use super::{notice, output};
use crate::durable::{self, with_suffix};
use crate::error::{CliError, Result};
use crate::interface::{Interface, MapTypes};
use crate::json::{to_json, Codec, Format};
use crate::progress;
use crate::resume::{Resume, Start, TargetId};
use crate::stream::{self, EntriesField, Flow, Outer};
use crate::target::Target;
use backup_runtime::limits::MAX_ENTRY_BYTES;
use candid::types::value::IDLValue;
use candid::types::{Type, TypeInner};
use candid::IDLArgs;
use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// A backup file read and checked against the map's types.
pub struct BackupFile {
    pub entries: Vec<IDLValue>,
    /// The form the file was read in.
    pub format: Format,
    /// Numbers that the form holds inexactly (agent-js above 2^53), and where the first is.
    pub lossy: Option<(u64, String)>,
    /// The SHA-256 of the file as it was read, for binding a resume to it.
    pub sha256: String,
}

/// The entries of a backup file (any format) as Candid values of the map's
/// entry type, all checked. An array of entries is read in `format`, or,
/// without one, in whichever of the agent-js and plain forms it is written
/// in; a file both read differently is refused. (`restore` itself reads
/// the file the same way without keeping the values.)
pub fn read_entries(
    interface: &Interface,
    types: &MapTypes,
    path: &Path,
    format: Option<Format>,
) -> Result<BackupFile> {
    struct Collect(Vec<IDLValue>);
    impl Sink for Collect {
        fn entry(&mut self, _: u64, entry: IDLValue) -> Result<()> {
            self.0.push(entry);
            Ok(())
        }
        fn restart(&mut self) {
            self.0.clear();
        }
    }
    let mut collect = Collect(Vec::new());
    let reading = read_with(
        interface,
        types,
        path,
        format,
        &ProgressBar::hidden(),
        &mut collect,
    )?;
    Ok(BackupFile {
        entries: collect.0,
        format: reading.format,
        lossy: reading.lossy,
        sha256: reading.sha256,
    })
}

/// What receives a file's entries, as Candid values, while it is read.
trait Sink {
    fn entry(&mut self, index: u64, entry: IDLValue) -> Result<()>;
    /// The file is read again from its start, in another form.
    fn restart(&mut self);
}

/// How a file was read.
struct Reading {
    format: Format,
    lossy: Option<(u64, String)>,
    sha256: String,
    entries: u64,
    /// Whose backup the file says it is (a lossless file's header).
    names: std::collections::BTreeMap<String, String>,
}

/// Why one reading of a file ended.
enum Failure {
    Error(CliError),
    /// An entry is not in the agent-js form (when that was a guess).
    NotAgentJs(CliError),
    /// An entry is not in plain JSON either.
    NotPlain(CliError),
}

impl From<CliError> for Failure {
    fn from(error: CliError) -> Self {
        Failure::Error(error)
    }
}

/// The type of the map's entries (`record { K; V }`).
fn entry_type(interface: &Interface, types: &MapTypes) -> Result<Type> {
    match interface.env.trace_type(&types.entries)?.as_ref() {
        TypeInner::Vec(entry) => Ok(entry.clone()),
        _ => Err(CliError::Input(
            "the restore endpoint does not take a vector".into(),
        )),
    }
}

/// The forms a file's entries may be in, from its outer value and
/// `--format`; `complete` once the whole document has been read (a lossless
/// file's `format` may come after its entries).
fn forms(
    outer: &Outer,
    format: Option<Format>,
    complete: bool,
    path: &Path,
) -> Result<&'static [Format]> {
    match (outer, format) {
        (
            Outer::Object {
                format: found,
                entries,
            },
            None | Some(Format::Lossless),
        ) if found
            .as_ref()
            .map_or(!complete, |found| found == LOSSLESS_FORMAT) =>
        {
            if complete && *entries != EntriesField::Array {
                return Err(CliError::Input(format!(
                    "{}: a lossless backup without `entries`",
                    path.display()
                )));
            }
            Ok(&[Format::Lossless])
        }
        (Outer::Array, None) => Ok(&[Format::AgentJs, Format::Json]),
        (Outer::Array, Some(Format::AgentJs)) => Ok(&[Format::AgentJs]),
        (Outer::Array, Some(Format::Json)) => Ok(&[Format::Json]),
        (_, format) => {
            let expected = match format {
                Some(Format::Lossless) => format!("a lossless file (`\"format\": \"{LOSSLESS_FORMAT}\"`)"),
                Some(format) => format!("`[[key, value], ...]` (the {} form)", format.name()),
                None => format!("a backup: `[[key, value], ...]` or a lossless file (`\"format\": \"{LOSSLESS_FORMAT}\"`)"),
            };
            Err(CliError::Input(format!(
                "{}: expected {expected}",
                path.display()
            )))
        }
    }
}

/// Reads the file once, handing each entry to `sink`. An array in no given
/// form is read as agent-js while it reads so (and, alongside, as plain JSON
/// while that reads, to find a file both forms read differently); with
/// `plain`, as plain JSON.
fn read_once(
    interface: &Interface,
    entry_type: &Type,
    path: &Path,
    format: Option<Format>,
    plain: bool,
    bar: &ProgressBar,
    sink: &mut dyn Sink,
) -> std::result::Result<Reading, Failure> {
    let in_file =
        |error: CliError| CliError::Input(format!("{}: {error}; nothing was sent", path.display()));
    let env = &interface.env;
    let (agent_js, json, lossless) = (
        Codec::new(env, Format::AgentJs),
        Codec::new(env, Format::Json),
        Codec::new(env, Format::Lossless),
    );
    let codec_of = |format: Format| match format {
        Format::AgentJs => &agent_js,
        Format::Json => &json,
        Format::Lossless => &lossless,
    };
    let mut chosen: Option<&[Format]> = None;
    let mut plain_reads = true;
    let mut differs = None;
    let mut refused: Option<Failure> = None;
    let walked = stream::walk(path, 0, bar, &mut |outer, i, entry| {
        let forms = match chosen {
            Some(forms) => forms,
            None => *chosen.insert(forms(outer, format, false, path)?),
        };
        let at = format!("entry {i}");
        let value = match forms {
            [Format::AgentJs, Format::Json] if plain => {
                match json.from_json(entry_type, &entry, &at) {
                    Ok(value) => value,
                    Err(error) => {
                        refused = Some(Failure::NotPlain(error));
                        return Ok(Flow::Stop);
                    }
                }
            }
            [Format::AgentJs, Format::Json] => match agent_js.from_json(entry_type, &entry, &at) {
                Ok(value) => {
                    if plain_reads {
                        match json.from_json(entry_type, &entry, &at) {
                            Ok(other) if other != value => {
                                differs.get_or_insert(i);
                            }
                            Ok(_) => {}
                            Err(_) => plain_reads = false,
                        }
                    }
                    value
                }
                Err(error) => {
                    refused = Some(Failure::NotAgentJs(error));
                    return Ok(Flow::Stop);
                }
            },
            [one, ..] => match codec_of(*one).from_json(entry_type, &entry, &at) {
                Ok(value) => value,
                Err(error) => {
                    refused = Some(Failure::Error(in_file(error)));
                    return Ok(Flow::Stop);
                }
            },
            [] => unreachable!("a file is read in at least one form"),
        };
        sink.entry(i, value).map_err(in_file)?;
        Ok(Flow::Next)
    })?;
    let walked = match (walked, refused) {
        (_, Some(failure)) => return Err(failure),
        (Some(walked), None) => walked,
        (None, None) => return Err(CliError::Input("the reading stopped".into()).into()),
    };
    let format = match forms(&walked.outer, format, true, path)? {
        [Format::AgentJs, Format::Json] if plain => Format::Json,
        [Format::AgentJs, Format::Json] => {
            if let (true, Some(i)) = (plain_reads, differs) {
                return Err(CliError::Input(format!(
                    "{}: the file reads as the agent-js form (`opt` as [] or [x]) and as plain JSON (`opt` as null or x), with different values from entry {i} on; say which with --format agent-js or --format json. Nothing was sent",
                    path.display()
                )).into());
            }
            Format::AgentJs
        }
        [one, ..] => *one,
        [] => unreachable!("a file is read in at least one form"),
    };
    let codec = codec_of(format);
    Ok(Reading {
        format,
        lossy: (codec.lossy() > 0)
            .then(|| (codec.lossy(), codec.first_lossy().unwrap_or_default())),
        sha256: hex::encode(walked.sha256),
        entries: walked.entries,
        names: walked.names,
    })
}

/// Reads the whole file into `sink`, in the form it is in (see [`read_entries`]).
fn read_with(
    interface: &Interface,
    types: &MapTypes,
    path: &Path,
    format: Option<Format>,
    bar: &ProgressBar,
    sink: &mut dyn Sink,
) -> Result<Reading> {
    let entry_type = entry_type(interface, types)?;
    let not_agent_js = match read_once(interface, &entry_type, path, format, false, bar, sink) {
        Ok(reading) => return Ok(reading),
        Err(Failure::Error(error) | Failure::NotPlain(error)) => return Err(error),
        Err(Failure::NotAgentJs(error)) => error,
    };
    sink.restart();
    match read_once(interface, &entry_type, path, format, true, bar, sink) {
        Ok(reading) => Ok(reading),
        Err(Failure::NotPlain(not_plain)) => Err(CliError::Input(format!(
            "{}: not a backup of this map in the agent-js form ({not_agent_js}) nor in plain JSON ({not_plain}); nothing was sent",
            path.display()
        ))),
        Err(Failure::Error(error) | Failure::NotAgentJs(error)) => Err(error),
    }
}

/// Entries encoded one at a time into `restore_<map>` arguments: a batch is
/// the arguments' header, the entry count, then each entry's bytes, which is
/// what encoding the batch's values at once writes.
struct Encoder<'a> {
    interface: &'a Interface,
    types: &'a MapTypes,
    header: Vec<u8>,
}

impl<'a> Encoder<'a> {
    fn new(interface: &'a Interface, types: &'a MapTypes) -> Result<Self> {
        let mut encoder = Encoder {
            interface,
            types,
            header: Vec::new(),
        };
        let mut empty = encoder.encode(IDLArgs::new(&[IDLValue::Vec(Vec::new())]))?;
        // An empty vector is its header and a zero count.
        if empty.pop() != Some(0) {
            return Err(CliError::Input(
                "Candid: an empty batch does not end in its count".into(),
            ));
        }
        encoder.header = empty;
        Ok(encoder)
    }

    fn encode(&self, args: IDLArgs) -> Result<Vec<u8>> {
        Ok(args.to_bytes_with_types(
            &self.interface.env,
            std::slice::from_ref(&self.types.entries),
        )?)
    }

    /// An entry's bytes within a batch, and the entry back.
    fn entry(&self, entry: IDLValue) -> Result<(Vec<u8>, IDLValue)> {
        let args = IDLArgs {
            args: vec![IDLValue::Vec(vec![entry])],
        };
        let alone = self.encode(args.clone())?;
        let bytes = alone
            .strip_prefix(self.header.as_slice())
            .and_then(|rest| rest.strip_prefix(&[1]))
            .ok_or_else(|| CliError::Input("Candid: an entry encoded under another header".into()))?
            .to_vec();
        let entry = match args.args.into_iter().next() {
            Some(IDLValue::Vec(mut one)) => one.pop(),
            _ => None,
        };
        Ok((bytes, entry.unwrap_or(IDLValue::Null)))
    }

    /// The arguments of a batch of `count` entries, whose bytes are `entries`.
    fn batch(&self, count: usize, entries: &[u8]) -> Vec<u8> {
        let mut batch = Vec::with_capacity(self.header.len() + 10 + entries.len());
        batch.extend_from_slice(&self.header);
        backup_common::leb128::push(&mut batch, count as u64);
        batch.extend_from_slice(entries);
        batch
    }
}

/// One batch as planned: how many entries, and the digest of their bytes,
/// so that a batch read again from the file is sent only if it is the one
/// that was checked.
#[derive(Clone, Debug, PartialEq)]
struct Planned {
    count: usize,
    digest: [u8; 32],
}

/// Cuts the entries, as they are read, into batches of at most `budget`
/// bytes; an entry too large to share a batch travels alone, up to the
/// [`MAX_ENTRY_BYTES`] one restore call can carry (what backup pages keep
/// to). Keeps a 16-byte digest of each key, to find a key given twice.
struct Planner<'a> {
    encoder: &'a Encoder<'a>,
    budget: usize,
    batches: Vec<Planned>,
    count: usize,
    size: usize,
    hasher: Sha256,
    keys: Vec<(u128, u64)>,
}

impl<'a> Planner<'a> {
    fn new(encoder: &'a Encoder<'a>, budget: usize) -> Self {
        Planner {
            encoder,
            budget,
            batches: Vec::new(),
            count: 0,
            size: encoder.header.len() + 5,
            hasher: Sha256::new(),
            keys: Vec::new(),
        }
    }

    fn cut(&mut self) {
        if self.count > 0 {
            self.batches.push(Planned {
                count: self.count,
                digest: self.hasher.finalize_reset().into(),
            });
        }
        self.count = 0;
        self.size = self.encoder.header.len() + 5;
    }

    /// The batches, and the first entry that repeats an earlier one's key
    /// with that earlier entry's index.
    fn finish(mut self) -> (Vec<Planned>, Option<(u64, u64)>) {
        self.cut();
        self.keys.sort_unstable();
        let repeat = self
            .keys
            .chunk_by(|a, b| a.0 == b.0)
            .filter_map(|same| Some((same.get(1)?.1, same[0].1)))
            .min();
        (self.batches, repeat)
    }
}

impl Sink for Planner<'_> {
    fn entry(&mut self, index: u64, entry: IDLValue) -> Result<()> {
        if let Some(key) = key_of(&entry) {
            // A digest of the key's Candid text: equal keys, equal texts.
            // Two keys of 128-bit digests alike are not expected in any file.
            let digest = Sha256::digest(key.to_string());
            let mut first = [0u8; 16];
            first.copy_from_slice(&digest[..16]);
            self.keys.push((u128::from_le_bytes(first), index));
        }
        let (bytes, entry) = self.encoder.entry(entry)?;
        let header = self.encoder.header.len();
        if header + 1 + bytes.len() > MAX_ENTRY_BYTES as usize {
            return Err(CliError::Input(format!(
                "entry {index} (key {}) alone encodes to {} bytes, over the {MAX_ENTRY_BYTES} bytes one restore call can carry",
                key_text(self.encoder.interface, self.encoder.types, &entry),
                bytes.len()
            )));
        }
        if self.count > 0 && self.size + bytes.len() > self.budget {
            self.cut();
        }
        self.size += bytes.len();
        self.count += 1;
        self.hasher.update(&bytes);
        Ok(())
    }

    fn restart(&mut self) {
        self.batches.clear();
        self.keys.clear();
        self.hasher = Sha256::new();
        self.count = 0;
        self.size = self.encoder.header.len() + 5;
    }
}

fn key_of(entry: &IDLValue) -> Option<&IDLValue> {
    match entry {
        IDLValue::Record(pair) => field_by_id(pair, 0),
        _ => None,
    }
}

/// The key of an entry as it is in a lossless file, for messages.
fn key_text(interface: &Interface, types: &MapTypes, entry: &IDLValue) -> String {
    key_of(entry)
        .and_then(|key| to_json(&interface.env, &types.key, key, Format::Lossless).ok())
        .map_or_else(|| "?".into(), |key| key.to_string())
}

/// What `restore` is bound to: resuming needs the same canister (offline, the
/// image as the last recorded batch left it), map, types, file and mode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct RestoreBinding {
    target: TargetId,
    map: String,
    key_type: String,
    value_type: String,
    interface_sha256: String,
    input: PathBuf,
    input_sha256: String,
    /// The form the file was read in.
    #[serde(default)]
    format: String,
    replace: bool,
}

/// How far a restore got: with `--replace`, whether the map was cleared; the
/// batches (and their entries) the canister has durably taken.
#[derive(Debug, Serialize, Deserialize)]
struct RestoreProgress {
    cleared: bool,
    batches: usize,
    entries: u64,
}

/// How `ic-backup restore` runs.
pub struct RestoreOptions<'a> {
    pub map: &'a str,
    pub input: &'a Path,
    pub replace: bool,
    /// Bytes per batch; at most [`CALL_BUDGET`](super::CALL_BUDGET).
    pub batch_bytes: usize,
    pub stop_after: Option<usize>,
    /// The file's form; `None` to tell it from the file.
    pub format: Option<Format>,
    /// The map the file's header may name, other than `map`.
    pub from_map: Option<&'a str>,
    /// The canister the file's header may name, other than the target.
    pub from_canister: Option<&'a str>,
    pub json: bool,
}

/// Refuses a file whose header says it is the backup of another map, or of
/// another canister (as far as both are known: an offline image does not
/// know its canister's id), unless the user said so (`from_map`,
/// `from_canister`); an option that does not match the file is refused
/// too. Before anything is sent.
fn check_origin(
    names: &std::collections::BTreeMap<String, String>,
    map: &str,
    target: &TargetId,
    from_map: Option<&str>,
    from_canister: Option<&str>,
    input: &Path,
) -> Result<()> {
    let file = input.display();
    match (names.get("map").map(String::as_str), from_map) {
        (Some(named), None) if named != map => {
            return Err(CliError::Input(format!(
                "{file} is a backup of the map `{named}`, not `{map}`: restoring it would put `{named}`'s entries into `{map}`. If that is what you want, say so with --from-map {named}. Nothing was sent"
            )))
        }
        (named, Some(from)) if named != Some(from) => {
            return Err(CliError::Input(format!(
                "--from-map {from}: {file} is a backup of {}. Nothing was sent",
                named.map_or("a map it does not name".to_string(), |named| format!("the map `{named}`"))
            )))
        }
        _ => {}
    }
    let here = match target {
        TargetId::Live { canister, .. } => Some(canister.as_str()),
        TargetId::Offline { .. } => None,
    };
    match (names.get("canister").map(String::as_str), here, from_canister) {
        (Some(named), Some(here), None) if named != here => Err(CliError::Input(format!(
            "{file} is a backup of the canister {named}, not {here}: if it is to go into this one, say so with --from-canister {named}. Nothing was sent"
        ))),
        (named, _, Some(from)) if named != Some(from) => Err(CliError::Input(format!(
            "--from-canister {from}: {file} is a backup of {}. Nothing was sent",
            named.map_or("a canister it does not name".to_string(), |named| format!("the canister {named}"))
        ))),
        _ => Ok(()),
    }
}

/// `entry N` at the start of a canister's restore error: the entry's index
/// within its batch.
fn entry_index(message: &str) -> Option<(usize, &str)> {
    let rest = message.strip_prefix("entry ")?;
    let digits = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let index = rest[..digits].parse().ok()?;
    let rest = &rest[digits..];
    // The client names the key itself, from the file.
    let rest = rest
        .strip_prefix(" (key `")
        .and_then(|key| key.find("`)").map(|end| &key[end + 2..]))
        .unwrap_or(rest);
    Some((index, rest))
}

/// What [`Plan::each_batch`] does with a batch: its index, its first
/// entry's index in the file, its entry count and its arguments.
type SendBatch<'a> = dyn FnMut(usize, u64, usize, &[u8]) -> Result<Flow> + 'a;

/// A backup file read whole and checked, cut into batches that are read
/// again from the disk, one at a time, to be sent.
struct Plan<'a> {
    interface: &'a Interface,
    types: &'a MapTypes,
    map: &'a str,
    input: &'a Path,
    entry_type: Type,
    encoder: &'a Encoder<'a>,
    reading: Reading,
    batches: Vec<Planned>,
    /// The first entry that repeats an earlier entry's key, and that entry.
    repeat: Option<(u64, u64)>,
}

impl<'a> Plan<'a> {
    /// Reads and checks the whole file: every entry in the map's types and
    /// within what one restore call can carry.
    fn new(
        encoder: &'a Encoder<'a>,
        map: &'a str,
        input: &'a Path,
        format: Option<Format>,
        budget: usize,
        json: bool,
    ) -> Result<Self> {
        let (interface, types) = (encoder.interface, encoder.types);
        let size = std::fs::metadata(input).ok().map(|metadata| metadata.len());
        let bar = progress::bar(size, &format!("read {}", input.display()), true, json);
        let mut planner = Planner::new(encoder, budget);
        let reading = read_with(interface, types, input, format, &bar, &mut planner)?;
        bar.finish_and_clear();
        let (batches, repeat) = planner.finish();
        Ok(Plan {
            interface,
            types,
            map,
            input,
            entry_type: entry_type(interface, types)?,
            encoder,
            reading,
            batches,
            repeat,
        })
    }

    /// Refuses a file that names a key twice: restoring it would report more
    /// entries than it stores, and which value wins would depend on batching.
    fn check_unique_keys(&self) -> Result<()> {
        match self.repeat {
            None => Ok(()),
            Some((entry, first)) => Err(CliError::Input(format!(
                "{}: entry {entry} (key {}) repeats the key of entry {first}; each key may appear once. Nothing was sent",
                self.input.display(),
                self.key_text(entry).unwrap_or_else(|| "?".into())
            ))),
        }
    }

    /// The key of the file's entry `index`, read again, for messages.
    fn key_text(&self, index: u64) -> Option<String> {
        let codec = Codec::new(&self.interface.env, self.reading.format);
        let mut text = None;
        let hidden = ProgressBar::hidden();
        let _ = stream::walk(self.input, index, &hidden, &mut |_, _, entry| {
            text = codec
                .from_json(&self.entry_type, &entry, "")
                .ok()
                .map(|entry| key_text(self.interface, self.types, &entry));
            Ok(Flow::Stop)
        });
        text
    }

    /// Reads the batches from `from` on again, and hands `send` each one's
    /// index, first entry's index in the file, entry count and arguments,
    /// until `send` stops. A batch is handed only if it is exactly the one
    /// planned (the file may have changed since). Whether every batch was.
    fn each_batch(&self, from: usize, send: &mut SendBatch<'_>) -> Result<bool> {
        let changed = |why: String| {
            CliError::Input(format!(
                "{}: the file changed after it was checked ({why}); nothing more was sent. Run the command again",
                self.input.display()
            ))
        };
        let skip = self.batches[..from.min(self.batches.len())]
            .iter()
            .map(|batch| batch.count as u64)
            .sum();
        let codec = Codec::new(&self.interface.env, self.reading.format);
        let (mut batch, mut first, mut count) = (from, skip, 0usize);
        let mut bytes = Vec::new();
        let mut hasher = Sha256::new();
        let hidden = ProgressBar::hidden();
        let walked = stream::walk(self.input, skip, &hidden, &mut |_, i, entry| {
            let Some(planned) = self.batches.get(batch) else {
                return Err(changed(format!("entry {i} is new")));
            };
            let entry = codec
                .from_json(&self.entry_type, &entry, &format!("entry {i}"))
                .map_err(|error| changed(error.to_string()))?;
            let (entry, _) = self.encoder.entry(entry)?;
            hasher.update(&entry);
            bytes.extend_from_slice(&entry);
            count += 1;
            if count < planned.count {
                return Ok(Flow::Next);
            }
            if <[u8; 32]>::from(hasher.finalize_reset()) != planned.digest {
                return Err(changed(format!("batch {batch} is not the one checked")));
            }
            let flow = send(batch, first, count, &self.encoder.batch(count, &bytes))?;
            bytes.clear();
            (batch, first, count) = (batch + 1, first + count as u64, 0);
            Ok(flow)
        })?;
        match walked {
            None => Ok(false),
            Some(_) if batch == self.batches.len() => Ok(true),
            Some(walked) => Err(changed(format!("it ends after {} entries", walked.entries))),
        }
    }

    /// `error`, with what it may mean when the canister ran out of stack
    /// decoding the batch of entries `first..first + count`.
    fn out_of_stack(&self, error: CliError, first: u64, count: usize) -> CliError {
        match error {
            CliError::Rejected { method, message }
                if STACK_TRAPS.iter().any(|trap| message.contains(trap)) =>
            {
                CliError::Rejected {
                    method,
                    message: format!(
                        "{message}, checking entries {first} to {} of {}; nothing was written. If a value there is nested deeply (a list kept as nested options, say), the canister ran out of stack decoding it: its own code could not read that value either (its `get` would trap the same way), so it cannot be restored into the canister as built. A canister built with a larger wasm stack (for example `-C link-arg=-zstack-size=8388608`; Rust's default is 1 MiB) can hold it",
                        first + count.saturating_sub(1) as u64,
                        self.input.display()
                    ),
                }
            }
            other => other,
        }
    }

    /// Asks the canister to check every batch (`validate_<map>`, a query that
    /// writes nothing), so that a file it would refuse is refused before
    /// anything is written. Errors name the entry's index in the file and its key.
    fn validate(&self, target: &mut dyn Target, json: bool) -> Result<()> {
        let method = format!("validate_{}", self.map);
        let bar = progress::bar(
            Some(self.reading.entries),
            &format!("check {}", self.map),
            false,
            json,
        );
        self.each_batch(0, &mut |_, first, count, arg| {
            let reply = target
                .query(&method, arg)
                .map_err(|error| self.out_of_stack(error, first, count))?;
            let answer: std::result::Result<u64, String> = candid::decode_one(&reply)?;
            match answer {
                Ok(n) if n == count as u64 => {}
                Ok(n) => {
                    return Err(CliError::Rejected {
                        method: method.clone(),
                        message: format!("expected {count} entries checked, the canister says {n}"),
                    })
                }
                Err(message) => {
                    bar.abandon();
                    let located = entry_index(&message).and_then(|(index, rest)| {
                        let entry = first + index as u64;
                        Some(format!(
                            "{}: entry {entry} (key {}){rest}",
                            self.input.display(),
                            self.key_text(entry)?,
                        ))
                    });
                    return Err(CliError::Rejected {
                        method: method.clone(),
                        message: located.unwrap_or(message),
                    });
                }
            }
            bar.set_position(first + count as u64);
            Ok(Flow::Next)
        })?;
        bar.finish_and_clear();
        Ok(())
    }
}

/// How a canister that runs out of stack traps: past the 1 MiB wasm stack
/// Rust gives it (below address 0 of its memory: "heap out of bounds" on
/// the IC, "out of bounds memory access" in the runner), or past the IC's
/// 5 MiB native stack ("stack overflow"; "call stack exhausted" here).
const STACK_TRAPS: [&str; 4] = [
    "heap out of bounds",
    "out of bounds memory access",
    "stack overflow",
    "call stack exhausted",
];

/// Restores one map from a file: every entry is checked against the map's
/// types here and by the canister (`validate_<map>`) before anything is
/// written; with `--replace` the map is then cleared; batches follow, each
/// recorded once durable, so a rerun continues where the last one stopped.
pub fn restore(
    target: &mut dyn Target,
    interface: &Interface,
    options: RestoreOptions,
) -> Result<()> {
    let RestoreOptions {
        map,
        input,
        replace,
        batch_bytes,
        stop_after,
        format,
        from_map,
        from_canister,
        json,
    } = options;
    let types = interface.map(map)?;
    let encoder = Encoder::new(interface, &types)?;
    let budget = batch_bytes.min(super::CALL_BUDGET);
    let plan = Plan::new(&encoder, map, input, format, budget, json)?;
    check_origin(
        &plan.reading.names,
        map,
        &target.id(),
        from_map,
        from_canister,
        input,
    )?;
    if let Some((n, first)) = &plan.reading.lossy {
        notice(json, &format!(
            "warning: {} is in the agent-js form, whose numbers are JavaScript numbers: {n} of them are above 2^53 - 1 (the first at {first}) and may have been rounded when the file was written. They are restored as they are in the file",
            input.display()
        ));
    }
    plan.check_unique_keys()?;
    let batches = plan.batches.len();

    let can_validate = interface.method(&format!("validate_{map}")).is_ok();
    if can_validate {
        plan.validate(target, json)?;
    } else if replace {
        return Err(CliError::Input(format!(
            "the canister has no `validate_{map}` (it was built with an older backup-runtime): without it a --replace cannot be all-or-nothing. Upgrade the canister, or restore without --replace"
        )));
    } else {
        notice(json, &format!(
            "warning: the canister has no `validate_{map}` (an older backup-runtime): a batch it refuses leaves the batches before it restored"
        ));
    }

    // Offline, the target's part of the binding (the image's digest) moves
    // with every batch; it is read again each time progress is saved.
    let mut binding = RestoreBinding {
        target: target.id(),
        map: map.to_string(),
        key_type: types.key.to_string(),
        value_type: types.value.to_string(),
        interface_sha256: interface.sha256.clone(),
        input: durable::absolute(input),
        input_sha256: plan.reading.sha256.clone(),
        format: plan.reading.format.name().to_string(),
        replace,
    };
    let (state, start) = Resume::<RestoreBinding, RestoreProgress>::open(
        &with_suffix(input, ".restore-progress"),
        "restore",
        &binding,
    );
    let mut progress = match start {
        Start::Resume(progress) if progress.batches <= batches => progress,
        Start::Resume(_) => {
            notice(
                json,
                &format!(
                    "{} records more batches than the file has; starting over",
                    state.path().display()
                ),
            );
            RestoreProgress {
                cleared: false,
                batches: 0,
                entries: 0,
            }
        }
        Start::Fresh { why } => {
            if let Some(why) = why {
                notice(json, &why);
            }
            RestoreProgress {
                cleared: false,
                batches: 0,
                entries: 0,
            }
        }
    };
    if replace && !progress.cleared {
        let reply = target.update(&format!("clear_{map}"), &candid::encode_args(())?)?;
        let cleared: u64 = candid::decode_one(&reply)?;
        notice(json, &format!("every entry was accepted; cleared {cleared} entries of `{map}` for the exact restore"));
        progress.cleared = true;
        if target.checkpoint()? {
            binding.target = target.id();
            state.save(&binding, &progress)?;
        }
    }
    let method = format!("restore_{map}");
    let bar = progress::bar(
        Some(plan.reading.entries),
        &format!("restore {map}"),
        false,
        json,
    );
    bar.set_position(progress.entries);
    let mut sent = 0usize;
    let mut stopped = false;
    let all_sent = plan.each_batch(progress.batches, &mut |_, _, count, arg| {
        if stop_after == Some(sent) {
            stopped = true;
            return Ok(Flow::Stop);
        }
        let reply = target.update(&method, arg)?;
        let result: std::result::Result<u64, String> = candid::decode_one(&reply)?;
        let inserted = result.map_err(|error| CliError::Rejected {
            method: method.clone(),
            message: error,
        })?;
        if inserted != count as u64 {
            return Err(CliError::Rejected {
                method: method.clone(),
                message: format!("expected {count} entries restored, the canister says {inserted}"),
            });
        }
        progress.entries += inserted;
        progress.batches += 1;
        if target.checkpoint()? {
            binding.target = target.id();
            state.save(&binding, &progress)?;
        }
        bar.set_position(progress.entries);
        sent += 1;
        Ok(Flow::Next)
    })?;
    if stopped || !all_sent {
        bar.abandon();
        target.finish()?;
        return Err(CliError::Network(format!(
            "stopped after {sent} batches as asked; run the same command again to resume"
        )));
    }
    bar.finish_and_clear();
    target.finish()?;
    state.remove()?;
    let restored = progress.entries;
    output(
        json,
        json!({ "map": map, "entries": restored, "batches": batches, "replaced": replace }),
        || format!("{restored} entries restored into `{map}` in {batches} batches"),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::typed::tests::DID;

    /// The batches of `file` (written to disk) planned under `budget`, as
    /// `restore` would send them, or the plan's error.
    fn plan_of(file: &serde_json::Value, budget: usize) -> Result<Vec<(usize, Vec<u8>)>> {
        let interface = Interface::parse(DID).unwrap();
        let types = interface.map("things").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("things.json");
        std::fs::write(&path, serde_json::to_vec(file).unwrap()).unwrap();
        let encoder = Encoder::new(&interface, &types)?;
        let plan = Plan::new(&encoder, "things", &path, None, budget, true)?;
        plan.check_unique_keys()?;
        let mut batches = Vec::new();
        let all = plan.each_batch(0, &mut |index, first, count, arg| {
            assert_eq!(index, batches.len());
            let before: usize = batches.iter().map(|(n, _)| n).sum();
            assert_eq!(first, before as u64);
            batches.push((count, arg.to_vec()));
            Ok(Flow::Next)
        })?;
        assert!(all);
        Ok(batches)
    }

    fn things(n: u64) -> Vec<serde_json::Value> {
        (0..n)
            .map(|i| json!([format!("key-{i:04}"), { "n": i }]))
            .collect()
    }

    #[test]
    fn restore_batches_fit_the_budget_and_keep_every_entry() {
        let interface = Interface::parse(DID).unwrap();
        let types = interface.map("things").unwrap();
        let batches = plan_of(&json!(things(1000)), 1000).unwrap();
        assert!(batches.len() > 10);
        let mut seen = Vec::new();
        for (count, arg) in &batches {
            assert!(arg.len() <= 1000, "a batch of {} bytes", arg.len());
            let args = IDLArgs::from_bytes(arg).unwrap();
            let IDLValue::Vec(items) = &args.args[0] else {
                panic!("not a vector")
            };
            assert_eq!(items.len(), *count);
            // Entry by entry, the bytes of encoding the batch at once.
            let at_once = IDLArgs::new(&args.args)
                .to_bytes_with_types(&interface.env, std::slice::from_ref(&types.entries))
                .unwrap();
            assert_eq!(&at_once, arg);
            seen.extend(items.iter().cloned());
        }
        assert_eq!(seen.len(), 1000);
        assert_eq!(
            seen[999].to_string(),
            // Field names travel as their ids.
            "record { \"key-0999\"; record { 110 = 999 : nat64 } }"
        );
        // A budget under one entry: each travels alone.
        let alone = plan_of(&json!(things(5)), 10).unwrap();
        assert_eq!(
            alone.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            vec![1; 5]
        );
        // An empty file: no batch.
        assert!(plan_of(&json!([]), 1000).unwrap().is_empty());
        // An entry no restore call can carry is named by its index and key.
        let mut huge = things(3);
        huge[2] = json!(["k".repeat(MAX_ENTRY_BYTES as usize), { "n": 1 }]);
        let error = plan_of(&json!(huge), 1000).unwrap_err().to_string();
        assert!(
            error.contains("entry 2 (key \"kkk") && error.contains("alone encodes"),
            "{}",
            &error[..200]
        );
    }

    #[test]
    fn a_key_given_twice_is_named_at_its_first_repeat() {
        let mut entries = things(10);
        entries[7] = json!(["key-0002", { "n": 70 }]);
        entries[5] = json!(["key-0008", { "n": 50 }]);
        let error = plan_of(&json!(entries), 1000).unwrap_err().to_string();
        assert!(
            error.contains("entry 7 (key \"key-0002\") repeats the key of entry 2"),
            "{error}"
        );
        entries[9] = json!(["key-0001", { "n": 90 }]);
        entries[6] = json!(["key-0001", { "n": 60 }]);
        let error = plan_of(&json!(entries), 1000).unwrap_err().to_string();
        assert!(
            error.contains("entry 6 (key \"key-0001\") repeats the key of entry 1"),
            "{error}"
        );
    }

    /// A batch read again is sent only if it is the batch checked: a file
    /// changed between the reads stops the restore before the changed batch.
    #[test]
    fn a_file_changed_after_its_check_sends_nothing_more() {
        let interface = Interface::parse(DID).unwrap();
        let types = interface.map("things").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("things.json");
        let write = |entries: &[serde_json::Value]| {
            std::fs::write(&path, serde_json::to_vec(entries).unwrap()).unwrap()
        };
        let original = things(100);
        let encoder = Encoder::new(&interface, &types).unwrap();
        for change in 0..4 {
            write(&original);
            let plan = Plan::new(&encoder, "things", &path, None, 200, true).unwrap();
            assert!(plan.batches.len() > 4);
            let mut changed = original.clone();
            // The first entry that differs.
            let differs = match change {
                0 => {
                    changed[60] = json!(["key-0060", { "n": 61 }]);
                    60
                }
                1 => {
                    changed.truncate(99);
                    99
                }
                2 => {
                    changed.push(json!(["key-0100", { "n": 100 }]));
                    100
                }
                _ => {
                    changed.swap(60, 61);
                    60
                }
            };
            write(&changed);
            let mut sent = 0;
            let error = plan
                .each_batch(0, &mut |_, first, count, _| {
                    assert!(first + count as u64 <= differs, "a changed batch was sent");
                    sent += count as u64;
                    Ok(Flow::Next)
                })
                .unwrap_err()
                .to_string();
            // Every batch before the change was sent.
            assert!(sent + 20 > differs.min(100), "{sent}");
            assert!(error.contains("changed after it was checked"), "{error}");
        }
    }

    #[test]
    fn a_canister_error_is_located_in_the_file_once() {
        assert_eq!(
            entry_index("entry 12 (key `a`b`): too big"),
            Some((12, ": too big"))
        );
        assert_eq!(entry_index("entry 3: bad"), Some((3, ": bad")));
        assert_eq!(entry_index("no entry"), None);
    }
}

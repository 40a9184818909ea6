//! A backup file read in whichever of the three forms it is in, each entry
//! checked against the map's types as it is read.

use crate::error::{Error, Result};
use crate::interface::{Interface, MapTypes};
use crate::json::{to_json, Codec, FieldMap, Format};
use crate::ops::backup::{field_by_id, LOSSLESS_FORMAT};
use crate::stream::{self, EntriesField, Flow, Outer};
use candid::types::value::IDLValue;
use candid::types::{Type, TypeInner};
use indicatif::ProgressBar;
use std::path::Path;

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
        &FieldMap::default(),
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
pub(super) trait Sink {
    fn entry(&mut self, index: u64, entry: IDLValue) -> Result<()>;
    /// The file is read again from its start, in another form.
    fn restart(&mut self);
}

/// How a file was read.
pub(super) struct Reading {
    pub(super) format: Format,
    pub(super) lossy: Option<(u64, String)>,
    pub(super) sha256: String,
    pub(super) entries: u64,
    /// Whose backup the file says it is (a lossless file's header).
    pub(super) names: std::collections::BTreeMap<String, String>,
    /// Values of fields the map's types lack, dropped as asked, by field.
    pub(super) dropped: std::collections::BTreeMap<String, u64>,
}

/// Why one reading of a file ended.
pub(super) enum Failure {
    Error(Error),
    /// An entry is not in the agent-js form (when that was a guess).
    NotAgentJs(Error),
    /// An entry is not in plain JSON either.
    NotPlain(Error),
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure::Error(error)
    }
}

/// The type of the map's entries (`record { K; V }`).
pub(super) fn entry_type(interface: &Interface, types: &MapTypes) -> Result<Type> {
    match interface.env.trace_type(&types.entries)?.as_ref() {
        TypeInner::Vec(entry) => Ok(entry.clone()),
        _ => Err(Error::Input(
            "the restore endpoint does not take a vector".into(),
        )),
    }
}

/// The forms a file's entries may be in, from its outer value and
/// `--format`; `complete` once the whole document has been read (a lossless
/// file's `format` may come after its entries).
pub(super) fn forms(
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
                return Err(Error::Input(format!(
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
            Err(Error::Input(format!(
                "{}: expected {expected}",
                path.display()
            )))
        }
    }
}

/// Reads the file once, handing each entry to `sink`. An array in no given
/// form is read as agent-js while it reads so (and, alongside, as plain JSON
/// while that reads, to find a file both forms read differently); with
/// `plain`, as plain JSON. Fields the map's types lack are counted over the
/// whole file and refused at its end, every one named, unless `fields`
/// renames or drops them; an entry refused on the way names those found so
/// far as well.
#[allow(clippy::too_many_arguments)]
pub(super) fn read_once(
    interface: &Interface,
    entry_type: &Type,
    path: &Path,
    format: Option<Format>,
    fields: &FieldMap,
    plain: bool,
    bar: &ProgressBar,
    sink: &mut dyn Sink,
) -> std::result::Result<Reading, Failure> {
    let in_file =
        |error: Error| Error::Input(format!("{}: {error}; nothing was sent", path.display()));
    let env = &interface.env;
    let (agent_js, json, lossless) = (
        Codec::adapting(env, Format::AgentJs, fields),
        Codec::adapting(env, Format::Json, fields),
        Codec::adapting(env, Format::Lossless, fields),
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
                        refused = Some(Failure::NotPlain(also_unknown(&json, error)));
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
                    let error = also_unknown(codec_of(*one), error);
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
        (None, None) => return Err(Error::Input("the reading stopped".into()).into()),
    };
    let format = match forms(&walked.outer, format, true, path)? {
        [Format::AgentJs, Format::Json] if plain => Format::Json,
        [Format::AgentJs, Format::Json] => {
            if let (true, Some(i)) = (plain_reads, differs) {
                return Err(Error::Input(format!(
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
    let unknown = codec.unknown();
    if !unknown.is_empty() {
        let named: Vec<String> = unknown
            .iter()
            .map(|(field, (count, first))| {
                let values = if *count == 1 { "value" } else { "values" };
                format!("`{field}` ({count} {values}, the first at {first})")
            })
            .collect();
        let drops: Vec<String> = unknown
            .keys()
            .map(|field| format!("--drop-field {field}"))
            .collect();
        return Err(Error::Input(format!(
            "{}: the file's records have fields the map's types lack: {}. Restoring would drop that data: say so with {} (each dropped value is counted), or map a field renamed since with --rename <file's name>=<type's name>. Nothing was sent",
            path.display(),
            named.join(", "),
            drops.join(" ")
        ))
        .into());
    }
    Ok(Reading {
        format,
        lossy: (codec.lossy() > 0)
            .then(|| (codec.lossy(), codec.first_lossy().unwrap_or_default())),
        sha256: hex::encode(walked.sha256),
        entries: walked.entries,
        names: walked.names,
        dropped: codec.dropped(),
    })
}

/// `error`, and the fields the map's types lack that `codec` met before it.
fn also_unknown(codec: &Codec, error: Error) -> Error {
    let unknown = codec.unknown();
    if unknown.is_empty() {
        return error;
    }
    let fields: Vec<String> = unknown.keys().map(|field| format!("`{field}`")).collect();
    Error::Input(format!(
        "{error}; the records read before it also have fields the map's types lack: {} (--drop-field drops one, --rename maps one renamed)",
        fields.join(", ")
    ))
}

/// Reads the whole file into `sink`, in the form it is in (see [`read_entries`]).
pub(super) fn read_with(
    interface: &Interface,
    types: &MapTypes,
    path: &Path,
    format: Option<Format>,
    fields: &FieldMap,
    bar: &ProgressBar,
    sink: &mut dyn Sink,
) -> Result<Reading> {
    let entry_type = entry_type(interface, types)?;
    let not_agent_js = match read_once(
        interface,
        &entry_type,
        path,
        format,
        fields,
        false,
        bar,
        sink,
    ) {
        Ok(reading) => return Ok(reading),
        Err(Failure::Error(error) | Failure::NotPlain(error)) => return Err(error),
        Err(Failure::NotAgentJs(error)) => error,
    };
    sink.restart();
    match read_once(interface, &entry_type, path, format, fields, true, bar, sink) {
        Ok(reading) => Ok(reading),
        Err(Failure::NotPlain(not_plain)) => Err(Error::Input(format!(
            "{}: not a backup of this map in the agent-js form ({not_agent_js}) nor in plain JSON ({not_plain}); nothing was sent",
            path.display()
        ))),
        Err(Failure::Error(error) | Failure::NotAgentJs(error)) => Err(error),
    }
}

pub(super) fn key_of(entry: &IDLValue) -> Option<&IDLValue> {
    match entry {
        IDLValue::Record(pair) => field_by_id(pair, 0),
        _ => None,
    }
}

/// The value of an entry (a `record { K; V }`).
pub(super) fn value_of(entry: &IDLValue) -> Option<&IDLValue> {
    match entry {
        IDLValue::Record(pair) => field_by_id(pair, 1),
        _ => None,
    }
}

/// The key of an entry as it is in a lossless file, for messages.
pub(super) fn key_text(interface: &Interface, types: &MapTypes, entry: &IDLValue) -> String {
    key_of(entry)
        .and_then(|key| to_json(&interface.env, &types.key, key, Format::Lossless).ok())
        .map_or_else(|| "?".into(), |key| key.to_string())
}

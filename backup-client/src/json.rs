//! Typed Candid values to and from JSON, driven by the map's Candid types.
//!
//! Three forms:
//!
//! * `agent-js`, what the article's `backup.js` writes and its `restore.js`
//!   reads: the values agent-js decodes, through `JSON.stringify` with
//!   `BigInt.prototype.toJSON` returning `Number(this)`. Records are objects
//!   (fields in Candid's hash order, as agent-js builds them), tuples arrays,
//!   `opt` is `[]` or `[value]`, variants `{"Tag": value}`, every number a
//!   JSON number, blobs arrays of bytes (agent-js's own `Uint8Array`, which
//!   stringifies as `{"0": b, ...}`, is read too), principals
//!   `{"__principal__": text}`. JavaScript holds numbers as doubles, so a
//!   64-bit or unbounded integer above 2^53 - 1 is not exact in this form:
//!   [`Codec::lossy`] counts them, reading and writing, so the user is told.
//! * `json`, plain JSON: the same, except that `opt` is `null` or the value
//!   (so `opt opt` and `opt null` cannot be told apart) and principals are
//!   text. Integers are written exactly.
//! * `lossless`: every 64-bit or unbounded integer is a decimal string, blobs
//!   are hex strings, `opt` is `[]` or `[value]`, principals text, and
//!   non-finite floats strings. A file in this form round-trips exactly,
//!   whatever reads it.

use crate::error::{Error, Result};
use candid::types::value::{IDLField, IDLValue, VariantValue};
use candid::types::{Label, Type, TypeInner};
use candid::{Int, Nat, Principal, TypeEnv};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};

/// The forms of a backup file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The article's agent-js JSON: `[[key, value], ...]`, `opt` as `[]` or
    /// `[x]`, numbers as JavaScript numbers (inexact above 2^53).
    AgentJs,
    /// Plain JSON: `[[key, value], ...]`, `opt` as `null` or the value.
    Json,
    /// Exact for nat64 above 2^53, blobs, nested options and every other type.
    Lossless,
}

impl Format {
    /// Every form, in the order `--help` lists them.
    pub const ALL: [Format; 3] = [Format::AgentJs, Format::Json, Format::Lossless];

    /// The name `--format` takes.
    pub fn name(self) -> &'static str {
        match self {
            Format::AgentJs => "agent-js",
            Format::Json => "json",
            Format::Lossless => "lossless",
        }
    }

    /// The form `--format` names, if it names one.
    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|format| format.name() == name)
    }

    /// One line on what the form keeps.
    pub fn description(self) -> &'static str {
        match self {
            Format::AgentJs => "The article's agent-js JSON: `[[key, value], ...]`, `opt` as `[]` or `[x]`, numbers as JavaScript numbers (inexact above 2^53)",
            Format::Json => "Plain JSON: `[[key, value], ...]`, `opt` as `null` or the value",
            Format::Lossless => "Exact for nat64 above 2^53, blobs, nested options and every other type",
        }
    }
}

/// `Number.MAX_SAFE_INTEGER`: the largest integer every larger one of which
/// a JavaScript number may not hold exactly.
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

fn mismatch(path: &str, expected: &str, found: &Value) -> Error {
    let mut shown = found.to_string();
    if shown.chars().count() > 60 {
        // Cut on a character boundary: the text is the user's, in any script.
        shown = shown.chars().take(57).collect();
        shown.push_str("...");
    }
    Error::Input(format!("at {path}: expected {expected}, found {shown}"))
}

/// A NaN as the lossless and plain forms write it: `"NaN"` for the
/// canonical one (`canonical`, as `f32::NAN` or `f64::NAN`), and with its
/// bits (`digits` hex digits) for any other, so sign and payload come back.
fn nan_text(bits: u64, digits: usize, canonical: u64) -> Value {
    if bits == canonical {
        json!("NaN")
    } else {
        json!(format!("NaN:0x{bits:0digits$x}"))
    }
}

/// The stack the conversions keep free (candid's own type lookups refuse
/// to run with less than 32 KiB left), and the segment added when less is.
const RED_ZONE: usize = 256 << 10;
const STACK_SEGMENT: usize = 4 << 20;

/// A field's name in `format`: agent-js names a field known only by its hash `_<hash>_`.
fn label_name(label: &Label, format: Format) -> String {
    match (label, format) {
        (Label::Named(name), _) => name.clone(),
        (Label::Id(id) | Label::Unnamed(id), Format::AgentJs) => format!("_{id}_"),
        (Label::Id(id) | Label::Unnamed(id), _) => id.to_string(),
    }
}

/// A record whose fields are 0, 1, 2, ...: a tuple, written as an array.
fn is_tuple(fields: &[candid::types::Field]) -> bool {
    fields
        .iter()
        .enumerate()
        .all(|(i, field)| matches!(field.id.as_ref(), Label::Unnamed(n) if *n as usize == i))
        || fields
            .iter()
            .enumerate()
            .all(|(i, field)| matches!(field.id.as_ref(), Label::Id(n) if *n as usize == i))
}

fn trace(env: &TypeEnv, ty: &Type) -> Result<TypeInner> {
    Ok(env
        .trace_type(ty)
        .map_err(|error| Error::Input(format!("Candid type: {error}")))?
        .as_ref()
        .clone())
}

/// `value` of type `ty` as JSON in `format`, for a form that cannot lose
/// anything (the lossless form, cursors, messages).
pub fn to_json(env: &TypeEnv, ty: &Type, value: &IDLValue, format: Format) -> Result<Value> {
    Codec::new(env, format).to_json(ty, value)
}

/// The JSON `json` (found at `path` in the file) as a value of type `ty`.
pub fn from_json(
    env: &TypeEnv,
    ty: &Type,
    json: &Value,
    format: Format,
    path: &str,
) -> Result<IDLValue> {
    Codec::new(env, format).from_json(ty, json, path)
}

/// How a file's records meet the types they are read in, when those are
/// another version's: fields the file has under another name
/// (`--rename old=new`), and fields of the file the types lack that may be
/// dropped (`--drop-field`). By field name, at any depth.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldMap {
    /// A field's name in the file, and its name in the types.
    pub renames: BTreeMap<String, String>,
    /// Fields of the file to drop where the types lack them.
    pub drops: BTreeSet<String>,
}

impl FieldMap {
    /// The mapping of `--rename old=new` (repeatable) and `--drop-field`.
    pub fn parse(renames: &[String], drops: &[String]) -> Result<FieldMap> {
        let mut map = FieldMap::default();
        for rename in renames {
            let Some((old, new)) = rename
                .split_once('=')
                .filter(|(old, new)| !old.is_empty() && !new.is_empty())
            else {
                return Err(Error::Input(format!(
                    "expected --rename OLD=NEW (a field's name in the file, then in the canister's types), found `{rename}`"
                )));
            };
            if map.renames.insert(old.into(), new.into()).is_some() {
                return Err(Error::Input(format!("--rename names `{old}` twice")));
            }
        }
        map.drops = drops.iter().cloned().collect();
        if let Some(both) = map.drops.iter().find(|d| map.renames.contains_key(*d)) {
            return Err(Error::Input(format!(
                "`{both}` is both renamed (--rename) and dropped (--drop-field)"
            )));
        }
        Ok(map)
    }
}

/// Converts values of one interface to and from one JSON form, counting the
/// numbers the form could not hold exactly.
///
/// Reading, a record field the type lacks is an error at once ([`Codec::new`]);
/// or ([`Codec::adapting`]) renamed or dropped as a [`FieldMap`] says, and
/// otherwise counted ([`Codec::unknown`]) for the reader to refuse the whole
/// file with every such field named.
pub struct Codec<'a> {
    env: &'a TypeEnv,
    format: Format,
    lossy: Cell<u64>,
    first_lossy: RefCell<Option<String>>,
    fields: Option<FieldMap>,
    /// Values dropped, by field name.
    dropped: RefCell<BTreeMap<String, u64>>,
    /// Fields the types lack: how many values each holds, and where the first is.
    unknown: RefCell<BTreeMap<String, (u64, String)>>,
}

impl<'a> Codec<'a> {
    pub fn new(env: &'a TypeEnv, format: Format) -> Self {
        Codec {
            env,
            format,
            lossy: Cell::new(0),
            first_lossy: RefCell::new(None),
            fields: None,
            dropped: RefCell::default(),
            unknown: RefCell::default(),
        }
    }

    /// A codec that reads records across versions as `fields` says.
    pub fn adapting(env: &'a TypeEnv, format: Format, fields: &FieldMap) -> Self {
        Codec {
            fields: Some(fields.clone()),
            ..Codec::new(env, format)
        }
    }

    /// The values dropped so far (`--drop-field`), by field name.
    pub fn dropped(&self) -> BTreeMap<String, u64> {
        self.dropped.borrow().clone()
    }

    /// The fields read so far that the types lack and nothing said to drop:
    /// how many values each held, and where the first was.
    pub fn unknown(&self) -> BTreeMap<String, (u64, String)> {
        self.unknown.borrow().clone()
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// How many numbers were read or written that JavaScript does not hold
    /// exactly (above 2^53 - 1, beyond 64 bits, non-finite floats).
    pub fn lossy(&self) -> u64 {
        self.lossy.get()
    }

    /// Where the first of them was read (a path such as `entry 3[1].balance`).
    pub fn first_lossy(&self) -> Option<String> {
        self.first_lossy.borrow().clone()
    }

    fn note_lossy(&self, path: &str) {
        self.lossy.set(self.lossy.get() + 1);
        if !path.is_empty() {
            self.first_lossy
                .borrow_mut()
                .get_or_insert_with(|| path.to_string());
        }
    }

    /// A 64-bit or unbounded integer, given as its decimal text.
    fn wide(&self, text: String) -> Value {
        let exact = text
            .parse::<u64>()
            .map(Value::from)
            .or_else(|_| text.parse::<i64>().map(Value::from))
            .ok();
        match (self.format, exact) {
            (Format::Lossless, _) | (Format::Json, None) => Value::String(text),
            (Format::Json, Some(number)) => number,
            (Format::AgentJs, exact) => {
                let safe = exact.as_ref().is_some_and(|n| {
                    n.as_u64().or(n.as_i64().map(i64::unsigned_abs)) <= Some(MAX_SAFE_INTEGER)
                });
                match exact {
                    Some(number) if safe => number,
                    // What `Number(bigint)` gives: the nearest double (null
                    // past the doubles), counted once.
                    _ => {
                        self.note_lossy("");
                        let x = text.parse::<f64>().unwrap_or(f64::NAN);
                        serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
                    }
                }
            }
        }
    }

    /// A double as `JSON.stringify` writes it; NaN and the infinities become
    /// null, and count as lossy.
    fn js_float(&self, x: f64) -> Value {
        serde_json::Number::from_f64(x).map_or_else(
            || {
                self.note_lossy("");
                Value::Null
            },
            Value::Number,
        )
    }

    fn float(&self, x: f64) -> Value {
        match self.format {
            Format::AgentJs => self.js_float(x),
            _ => {
                serde_json::Number::from_f64(x).map_or_else(|| json!(x.to_string()), Value::Number)
            }
        }
    }

    fn blob(&self, bytes: &[u8]) -> Value {
        match self.format {
            Format::Lossless => json!(hex::encode(bytes)),
            _ => json!(bytes),
        }
    }

    fn principal(&self, principal: &Principal) -> Value {
        match self.format {
            // What agent-js's `Principal.toJSON` writes.
            Format::AgentJs => json!({ "__principal__": principal.to_text() }),
            _ => json!(principal.to_text()),
        }
    }

    /// One entry of a backup file, `[key, value]`, as its form writes it
    /// (the agent-js form as `JSON.stringify` would), without a line end.
    pub fn entry_text(
        &self,
        types: (&Type, &Type),
        key: &IDLValue,
        value: &IDLValue,
    ) -> Result<Vec<u8>> {
        let line = Value::Array(vec![
            self.to_json(types.0, key)?,
            self.to_json(types.1, value)?,
        ]);
        Ok(match self.format {
            Format::AgentJs => to_js_text(&line).into_bytes(),
            _ => serde_json::to_vec(&line).map_err(|e| Error::Input(e.to_string()))?,
        })
    }

    /// `value` of type `ty` as JSON.
    pub fn to_json(&self, ty: &Type, value: &IDLValue) -> Result<Value> {
        // Values nest as deep as the canister keeps them: the stack grows
        // with them instead of running out.
        stacker::maybe_grow(RED_ZONE, STACK_SEGMENT, || self.write_json(ty, value))
    }

    fn write_json(&self, ty: &Type, value: &IDLValue) -> Result<Value> {
        let format = self.format;
        Ok(match (trace(self.env, ty)?, value) {
            (_, IDLValue::Null | IDLValue::Reserved) => Value::Null,
            (_, IDLValue::Bool(b)) => json!(b),
            (_, IDLValue::Text(text)) => json!(text),
            (_, IDLValue::Principal(p) | IDLValue::Service(p)) => self.principal(p),
            (_, IDLValue::Func(p, method)) => json!([self.principal(p), method]),
            (_, IDLValue::Nat8(n)) => json!(n),
            (_, IDLValue::Nat16(n)) => json!(n),
            (_, IDLValue::Nat32(n)) => json!(n),
            (_, IDLValue::Int8(n)) => json!(n),
            (_, IDLValue::Int16(n)) => json!(n),
            (_, IDLValue::Int32(n)) => json!(n),
            (_, IDLValue::Nat64(n)) => self.wide(n.to_string()),
            (_, IDLValue::Int64(n)) => self.wide(n.to_string()),
            (_, IDLValue::Nat(n)) => self.wide(n.0.to_string()),
            (_, IDLValue::Int(n)) => self.wide(n.0.to_string()),
            (_, IDLValue::Float32(x)) if x.is_nan() && self.format != Format::AgentJs => {
                nan_text(u64::from(x.to_bits()), 8, u64::from(f32::NAN.to_bits()))
            }
            (_, IDLValue::Float64(x)) if x.is_nan() && self.format != Format::AgentJs => {
                nan_text(x.to_bits(), 16, f64::NAN.to_bits())
            }
            (_, IDLValue::Float32(x)) => self.float(f64::from(*x)),
            (_, IDLValue::Float64(x)) => self.float(*x),
            (_, IDLValue::Blob(bytes)) => self.blob(bytes),
            (TypeInner::Opt(inner), IDLValue::Opt(v)) => {
                let v = self.to_json(&inner, v)?;
                match format {
                    Format::Json => v,
                    // Moved, not `json!([v])`: the macro copies its values
                    // (`to_value`), at every level of a nested value.
                    _ => Value::Array(vec![v]),
                }
            }
            (TypeInner::Opt(_), IDLValue::None) => match format {
                Format::Json => Value::Null,
                _ => json!([]),
            },
            (TypeInner::Vec(inner), IDLValue::Vec(items)) => {
                if matches!(trace(self.env, &inner)?, TypeInner::Nat8) {
                    let bytes: Vec<u8> = items
                        .iter()
                        .filter_map(|v| {
                            if let IDLValue::Nat8(b) = v {
                                Some(*b)
                            } else {
                                None
                            }
                        })
                        .collect();
                    self.blob(&bytes)
                } else {
                    Value::Array(
                        items
                            .iter()
                            .map(|v| self.to_json(&inner, v))
                            .collect::<Result<_>>()?,
                    )
                }
            }
            (TypeInner::Record(fields), IDLValue::Record(values)) => {
                let field_value = |field: &candid::types::Field| {
                    let value = values
                        .iter()
                        .find(|v| v.id.get_id() == field.id.get_id())
                        .map(|v| &v.val);
                    match value {
                        Some(value) => self.to_json(&field.ty, value),
                        // Only a field whose type has a value that says
                        // nothing may be absent; any other is refused
                        // rather than written as something it was not.
                        None => match trace(self.env, &field.ty)? {
                            TypeInner::Opt(_) => self.to_json(&field.ty, &IDLValue::None),
                            TypeInner::Null => Ok(Value::Null),
                            TypeInner::Reserved => self.to_json(&field.ty, &IDLValue::Reserved),
                            _ => Err(Error::Input(format!(
                                "a value has no field {} of its type {}, which is not optional: refused rather than written as null",
                                field.id, field.ty
                            ))),
                        },
                    }
                };
                if is_tuple(&fields) {
                    Value::Array(fields.iter().map(field_value).collect::<Result<_>>()?)
                } else {
                    // Candid keeps fields in hash order, the order agent-js builds them in.
                    let mut object = serde_json::Map::new();
                    for field in &fields {
                        object.insert(label_name(&field.id, format), field_value(field)?);
                    }
                    Value::Object(object)
                }
            }
            (TypeInner::Variant(fields), IDLValue::Variant(VariantValue(chosen, _))) => {
                let field = fields
                    .iter()
                    .find(|f| f.id.get_id() == chosen.id.get_id())
                    .ok_or_else(|| {
                        Error::Input(format!("variant tag {} is not in its type", chosen.id))
                    })?;
                let mut object = serde_json::Map::new();
                object.insert(
                    label_name(&field.id, format),
                    self.to_json(&field.ty, &chosen.val)?,
                );
                Value::Object(object)
            }
            (ty, value) => {
                return Err(Error::Input(format!(
                    "cannot write {value} of type {ty} as JSON"
                )))
            }
        })
    }
    /// The JSON `json` (found at `path` in the file) as a value of type `ty`.
    pub fn from_json(&self, ty: &Type, json: &Value, path: &str) -> Result<IDLValue> {
        stacker::maybe_grow(RED_ZONE, STACK_SEGMENT, || self.read_json(ty, json, path))
    }

    fn read_json(&self, ty: &Type, json: &Value, path: &str) -> Result<IDLValue> {
        let format = self.format;
        let inner = trace(self.env, ty)?;
        // An integer's decimal text. In the agent-js form, a 64-bit or
        // unbounded (`wide`) integer above 2^53 - 1 is a JavaScript number:
        // read as the double restore.js would send, and counted.
        let integer = |expected: &str, wide: bool| -> Result<String> {
            let text = match json {
                Value::Number(n) if n.is_u64() || n.is_i64() => n.to_string(),
                // `JSON.stringify` writes a number of 22 digits or more with
                // an exponent: an integer all the same.
                Value::Number(n) if wide && format == Format::AgentJs => match n.as_f64() {
                    Some(x) if x.is_finite() && x.fract() == 0.0 => format!("{x:.0}"),
                    _ => return Err(mismatch(path, expected, json)),
                },
                Value::String(s)
                    if !s.is_empty()
                        && s != "-"
                        && s.strip_prefix('-')
                            .unwrap_or(s)
                            .bytes()
                            .all(|b| b.is_ascii_digit()) =>
                {
                    return Ok(s.clone())
                }
                _ => return Err(mismatch(path, expected, json)),
            };
            let digits = text.trim_start_matches('-');
            let safe = digits.parse::<u64>().is_ok_and(|n| n <= MAX_SAFE_INTEGER);
            if wide && format == Format::AgentJs && !safe {
                self.note_lossy(path);
                let x = text
                    .parse::<f64>()
                    .map_err(|_| mismatch(path, expected, json))?;
                return Ok(format!("{x:.0}"));
            }
            Ok(text)
        };
        macro_rules! small {
            ($variant:ident, $ty:ty, $name:literal, $wide:literal) => {
                IDLValue::$variant(integer($name, $wide)?.parse::<$ty>().map_err(|_| {
                    let expected = if $wide && format == Format::AgentJs {
                        format!(
                            "{} from {} to {} (numbers above 2^53 in the agent-js form were rounded by JavaScript)",
                            $name,
                            <$ty>::MIN,
                            <$ty>::MAX
                        )
                    } else {
                        format!("{} from {} to {}", $name, <$ty>::MIN, <$ty>::MAX)
                    };
                    mismatch(path, &expected, json)
                })?)
            };
        }
        let nested = |ty: &Type, json: &Value, path: &str| self.from_json(ty, json, path);
        Ok(match inner {
            TypeInner::Null => match json {
                Value::Null => IDLValue::Null,
                _ => return Err(mismatch(path, "null", json)),
            },
            TypeInner::Reserved => IDLValue::Reserved,
            TypeInner::Bool => IDLValue::Bool(
                json.as_bool()
                    .ok_or_else(|| mismatch(path, "a boolean", json))?,
            ),
            TypeInner::Text => IDLValue::Text(
                json.as_str()
                    .ok_or_else(|| mismatch(path, "text", json))?
                    .to_string(),
            ),
            TypeInner::Principal => IDLValue::Principal(principal_from_json(json, path)?),
            // As they are written: a service as its principal, a func as
            // `[principal, method]`.
            TypeInner::Service(_) => IDLValue::Service(principal_from_json(json, path)?),
            TypeInner::Func(_) => match json.as_array().map(Vec::as_slice) {
                Some([principal, Value::String(method)]) => IDLValue::Func(
                    principal_from_json(principal, &format!("{path}[0]"))?,
                    method.clone(),
                ),
                _ => return Err(mismatch(path, "a func: [principal, method name]", json)),
            },
            TypeInner::Nat8 => small!(Nat8, u8, "a nat8", false),
            TypeInner::Nat16 => small!(Nat16, u16, "a nat16", false),
            TypeInner::Nat32 => small!(Nat32, u32, "a nat32", false),
            TypeInner::Nat64 => small!(Nat64, u64, "a nat64", true),
            TypeInner::Int8 => small!(Int8, i8, "an int8", false),
            TypeInner::Int16 => small!(Int16, i16, "an int16", false),
            TypeInner::Int32 => small!(Int32, i32, "an int32", false),
            TypeInner::Int64 => small!(Int64, i64, "an int64", true),
            TypeInner::Nat => IDLValue::Nat(
                integer("a nat", true)?
                    .parse::<Nat>()
                    .map_err(|_| mismatch(path, "a nat", json))?,
            ),
            TypeInner::Int => IDLValue::Int(
                integer("an int", true)?
                    .parse::<Int>()
                    .map_err(|_| mismatch(path, "an int", json))?,
            ),
            TypeInner::Float32 | TypeInner::Float64 => {
                // A NaN written with its bits: exactly those bits back.
                if let Some(hex) = json.as_str().and_then(|s| s.strip_prefix("NaN:0x")) {
                    let float32 = matches!(inner, TypeInner::Float32);
                    let digits = if float32 { 8 } else { 16 };
                    let expected = if float32 {
                        "a float32 NaN with its bits, `NaN:0x` and 8 hex digits"
                    } else {
                        "a float64 NaN with its bits, `NaN:0x` and 16 hex digits"
                    };
                    let bits = (hex.len() == digits)
                        .then(|| u64::from_str_radix(hex, 16).ok())
                        .flatten()
                        .ok_or_else(|| mismatch(path, expected, json))?;
                    let value = if float32 {
                        IDLValue::Float32(f32::from_bits(bits as u32))
                    } else {
                        IDLValue::Float64(f64::from_bits(bits))
                    };
                    let nan = match value {
                        IDLValue::Float32(x) => x.is_nan(),
                        IDLValue::Float64(x) => x.is_nan(),
                        _ => false,
                    };
                    if !nan {
                        return Err(mismatch(path, expected, json));
                    }
                    return Ok(value);
                }
                let x = match json {
                    Value::Number(n) => n.as_f64(),
                    Value::String(s) => s.parse::<f64>().ok(),
                    // `JSON.stringify` writes NaN and the infinities as null.
                    Value::Null if format == Format::AgentJs => {
                        self.note_lossy(path);
                        Some(f64::NAN)
                    }
                    _ => None,
                }
                .ok_or_else(|| mismatch(path, "a float", json))?;
                if matches!(inner, TypeInner::Float32) {
                    // Never turned into an infinity without a word.
                    if x.is_finite() && !(x as f32).is_finite() {
                        return Err(mismatch(
                            path,
                            &format!("a float32 (at most {:e} in size)", f32::MAX),
                            json,
                        ));
                    }
                    IDLValue::Float32(x as f32)
                } else {
                    IDLValue::Float64(x)
                }
            }
            TypeInner::Opt(t) if format == Format::Json => {
                if json.is_null() {
                    IDLValue::None
                } else {
                    IDLValue::Opt(Box::new(nested(&t, json, path)?))
                }
            }
            TypeInner::Opt(t) => match json.as_array().map(Vec::as_slice) {
                Some([]) => IDLValue::None,
                Some([v]) => IDLValue::Opt(Box::new(nested(&t, v, &format!("{path}[0]"))?)),
                _ => {
                    return Err(mismatch(
                        path,
                        &format!("[] or [value] (an opt, {} form)", format.name()),
                        json,
                    ))
                }
            },
            TypeInner::Vec(t) if matches!(trace(self.env, &t)?, TypeInner::Nat8) => {
                IDLValue::Blob(blob_from_json(json, path)?)
            }
            TypeInner::Vec(t) => {
                let items = array_items(json).ok_or_else(|| mismatch(path, "an array", json))?;
                IDLValue::Vec(
                    items
                        .into_iter()
                        .enumerate()
                        .map(|(i, item)| nested(&t, item, &format!("{path}[{i}]")))
                        .collect::<Result<_>>()?,
                )
            }
            TypeInner::Record(fields) if is_tuple(&fields) => {
                let items = json
                    .as_array()
                    .filter(|items| items.len() == fields.len())
                    .ok_or_else(|| {
                        mismatch(
                            path,
                            &format!("an array of {} items (a tuple)", fields.len()),
                            json,
                        )
                    })?;
                IDLValue::Record(
                    fields
                        .iter()
                        .zip(items)
                        .enumerate()
                        .map(|(i, (field, item))| {
                            let val = nested(&field.ty, item, &format!("{path}[{i}]"))?;
                            Ok(IDLField {
                                id: field.id.as_ref().clone(),
                                val,
                            })
                        })
                        .collect::<Result<_>>()?,
                )
            }
            TypeInner::Record(fields) => {
                let object = json
                    .as_object()
                    .ok_or_else(|| mismatch(path, "an object (a record)", json))?;
                let known = |k: &str| fields.iter().any(|f| label_name(&f.id, format) == k);
                // The file's name of each of the type's fields it renames.
                let mut renamed: BTreeMap<String, &str> = BTreeMap::new();
                for key in object.keys().filter(|k| !known(k)) {
                    let Some(map) = &self.fields else {
                        return Err(Error::Input(format!(
                            "at {path}: the record type has no field `{key}`"
                        )));
                    };
                    match map.renames.get(key) {
                        Some(new) if known(new) => {
                            if object.contains_key(new) {
                                return Err(Error::Input(format!(
                                    "at {path}: the record has both `{key}` and `{new}`, which --rename {key}={new} would make one field"
                                )));
                            }
                            renamed.insert(new.clone(), key);
                        }
                        _ if map.drops.contains(key) => {
                            *self.dropped.borrow_mut().entry(key.clone()).or_default() += 1;
                        }
                        _ => {
                            let mut unknown = self.unknown.borrow_mut();
                            let seen = unknown
                                .entry(key.clone())
                                .or_insert_with(|| (0, path.to_string()));
                            seen.0 += 1;
                        }
                    }
                }
                IDLValue::Record(
                    fields
                        .iter()
                        .map(|field| {
                            let name = label_name(&field.id, format);
                            let field_path = format!("{path}.{name}");
                            let given = object
                                .get(&name)
                                .or_else(|| renamed.get(&name).and_then(|old| object.get(*old)));
                            let val = match given {
                                Some(v) => nested(&field.ty, v, &field_path)?,
                                // A missing optional field is null, as Candid's subtyping allows.
                                None => match trace(self.env, &field.ty)? {
                                    TypeInner::Opt(_) => IDLValue::None,
                                    TypeInner::Null | TypeInner::Reserved => IDLValue::Null,
                                    _ => {
                                        return Err(Error::Input(format!(
                                            "at {path}: missing field `{name}`"
                                        )))
                                    }
                                },
                            };
                            Ok(IDLField {
                                id: field.id.as_ref().clone(),
                                val,
                            })
                        })
                        .collect::<Result<_>>()?,
                )
            }
            TypeInner::Variant(fields) => {
                let object = json
                    .as_object()
                    .filter(|o| o.len() == 1)
                    .ok_or_else(|| mismatch(path, "{\"Tag\": value} (a variant)", json))?;
                let (tag, value) = object
                    .iter()
                    .next()
                    .ok_or_else(|| mismatch(path, "a variant", json))?;
                let (index, field) = fields
                    .iter()
                    .enumerate()
                    .find(|(_, f)| label_name(&f.id, format) == *tag)
                    .ok_or_else(|| {
                        let tags: Vec<String> =
                            fields.iter().map(|f| label_name(&f.id, format)).collect();
                        Error::Input(format!(
                            "at {path}: expected one of the tags {}, found `{tag}`",
                            tags.join(", ")
                        ))
                    })?;
                let val = nested(&field.ty, value, &format!("{path}.{tag}"))?;
                IDLValue::Variant(VariantValue(
                    Box::new(IDLField {
                        id: field.id.as_ref().clone(),
                        val,
                    }),
                    index as u64,
                ))
            }
            other => {
                return Err(Error::Input(format!(
                    "at {path}: values of type {other} cannot be read from JSON"
                )))
            }
        })
    }
}

/// A principal as text, as agent-js's `Principal.toJSON` writes it
/// (`{"__principal__": text}`), or as older agent-js versions stringified
/// the object (`{"_arr": {"0": b, ...}, "_isPrincipal": true}`).
fn principal_from_json(json: &Value, path: &str) -> Result<Principal> {
    let expected = "a principal (text or {\"__principal__\": text})";
    let principal = match json {
        Value::String(text) => Principal::from_text(text).ok(),
        Value::Object(object) => match (object.get("__principal__"), object.get("_arr")) {
            (Some(Value::String(text)), None) if object.len() == 1 => {
                Principal::from_text(text).ok()
            }
            (None, Some(bytes)) => blob_from_json(bytes, path)
                .ok()
                .and_then(|bytes| Principal::try_from_slice(&bytes).ok()),
            _ => None,
        },
        _ => None,
    };
    principal.ok_or_else(|| mismatch(path, expected, json))
}

/// The items of an array, or of a stringified typed array (`{"0": x, "1":
/// y, ...}`): agent-js decodes a `vec` of fixed-size numbers, blobs
/// included, into a typed array, and `JSON.stringify` writes it so.
fn array_items(json: &Value) -> Option<Vec<&Value>> {
    match json {
        Value::Array(items) => Some(items.iter().collect()),
        Value::Object(object) => (0..object.len())
            .map(|i| object.get(&i.to_string()))
            .collect(),
        _ => None,
    }
}

/// A blob as hex, as an array of bytes, or as a stringified `Uint8Array`.
fn blob_from_json(json: &Value, path: &str) -> Result<Vec<u8>> {
    let byte = |b: &Value| b.as_u64().and_then(|b| u8::try_from(b).ok());
    let bytes = match json {
        Value::String(s) => hex::decode(s).ok(),
        _ => array_items(json).and_then(|items| items.into_iter().map(byte).collect()),
    };
    bytes.ok_or_else(|| {
        mismatch(
            path,
            "a blob (hex text, an array of bytes, or {\"0\": byte, ...})",
            json,
        )
    })
}

/// `value` as `JSON.stringify(value)` writes it: no spaces, and numbers as
/// JavaScript prints them (`1` for 1.0, `1e+21`, `1.5e-7`).
pub fn to_js_text(value: &Value) -> String {
    let mut out = String::new();
    write_js(value, &mut out);
    out
}

fn write_js(value: &Value, out: &mut String) {
    match value {
        Value::Number(n) if n.is_f64() => out.push_str(&js_number(n.as_f64().unwrap_or(f64::NAN))),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_js(item, out);
            }
            out.push(']');
        }
        Value::Object(object) => {
            out.push('{');
            for (i, (key, item)) in object.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_js(item, out);
            }
            out.push('}');
        }
        // Strings are escaped as JSON.stringify escapes them: `"`, `\\` and
        // control characters, the short forms where there are some.
        other => out.push_str(&other.to_string()),
    }
}

/// ECMAScript's Number::toString(x): the shortest digits that read back
/// as `x`, in fixed notation from 1e-7 up to 1e21, else with an exponent.
fn js_number(x: f64) -> String {
    if !x.is_finite() {
        return "null".into();
    }
    if x == 0.0 {
        return "0".into();
    }
    // Rust's `{:e}` gives the same shortest digits: `d.ddde±n`.
    let scientific = format!("{:e}", x.abs());
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let k = digits.len() as i64;
    // x = 0.digits × 10^n
    let n = exponent.parse::<i64>().unwrap_or(0) + 1;
    let sign = if x < 0.0 { "-" } else { "" };
    let body = if k <= n && n <= 21 {
        format!("{digits}{}", "0".repeat((n - k) as usize))
    } else if 0 < n && n <= 21 {
        format!("{}.{}", &digits[..n as usize], &digits[n as usize..])
    } else if -6 < n && n <= 0 {
        format!("0.{}{digits}", "0".repeat((-n) as usize))
    } else {
        let e = n - 1;
        let e = if e >= 0 {
            format!("+{e}")
        } else {
            e.to_string()
        };
        if k == 1 {
            format!("{digits}e{e}")
        } else {
            format!("{}.{}e{e}", &digits[..1], &digits[1..])
        }
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests;

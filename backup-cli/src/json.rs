//! Typed Candid values to and from JSON, driven by the map's Candid types.
//!
//! Two forms:
//!
//! * `json`, as the article's scripts wrote it: records are objects, `opt` is
//!   `null` or the value, variants are `{"Tag": value}`, numbers are numbers
//!   (exact here, but JavaScript readers lose precision above 2^53), blobs are
//!   arrays of bytes, principals are text.
//! * `lossless`: the same, except that every 64-bit or unbounded integer is a
//!   decimal string, blobs are hex strings, `opt` is `[]` or `[value]` (so
//!   `opt opt` survives), and non-finite floats are strings. A file in this
//!   form round-trips exactly, whatever reads it.

use crate::error::{CliError, Result};
use candid::types::value::{IDLField, IDLValue, VariantValue};
use candid::types::{Label, Type, TypeInner};
use candid::{Int, Nat, Principal, TypeEnv};
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The article's JSON: `[[key, value], ...]`.
    Json,
    /// Exact for nat64 above 2^53, blobs, nested options and every other type.
    Lossless,
}

fn mismatch(path: &str, expected: &str, found: &Value) -> CliError {
    let mut shown = found.to_string();
    if shown.chars().count() > 60 {
        // Cut on a character boundary: the text is the user's, in any script.
        shown = shown.chars().take(57).collect();
        shown.push_str("...");
    }
    CliError::Input(format!("at {path}: expected {expected}, found {shown}"))
}

fn label_name(label: &Label) -> String {
    match label {
        Label::Named(name) => name.clone(),
        Label::Id(id) | Label::Unnamed(id) => id.to_string(),
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
        .map_err(|error| CliError::Input(format!("Candid type: {error}")))?
        .as_ref()
        .clone())
}

/// `value` of type `ty` as JSON.
pub fn to_json(env: &TypeEnv, ty: &Type, value: &IDLValue, format: Format) -> Result<Value> {
    let lossless = format == Format::Lossless;
    let big = |text: String, small: Option<Value>| match (lossless, small) {
        (false, Some(number)) => number,
        _ => Value::String(text),
    };
    Ok(match (trace(env, ty)?, value) {
        (_, IDLValue::Null | IDLValue::Reserved) => Value::Null,
        (_, IDLValue::Bool(b)) => json!(b),
        (_, IDLValue::Text(text)) => json!(text),
        (_, IDLValue::Principal(p) | IDLValue::Service(p)) => json!(p.to_text()),
        (_, IDLValue::Func(p, method)) => json!([p.to_text(), method]),
        (_, IDLValue::Nat8(n)) => json!(n),
        (_, IDLValue::Nat16(n)) => json!(n),
        (_, IDLValue::Nat32(n)) => json!(n),
        (_, IDLValue::Int8(n)) => json!(n),
        (_, IDLValue::Int16(n)) => json!(n),
        (_, IDLValue::Int32(n)) => json!(n),
        (_, IDLValue::Nat64(n)) => big(n.to_string(), Some(json!(n))),
        (_, IDLValue::Int64(n)) => big(n.to_string(), Some(json!(n))),
        (_, IDLValue::Nat(n)) => big(
            n.0.to_string(),
            n.0.to_string().parse::<u64>().ok().map(|n| json!(n)),
        ),
        (_, IDLValue::Int(n)) => big(
            n.0.to_string(),
            n.0.to_string().parse::<i64>().ok().map(|n| json!(n)),
        ),
        (_, IDLValue::Float32(x)) => float(f64::from(*x)),
        (_, IDLValue::Float64(x)) => float(*x),
        (_, IDLValue::Blob(bytes)) => blob(bytes, lossless),
        (TypeInner::Opt(inner), IDLValue::Opt(v)) => {
            let v = to_json(env, &inner, v, format)?;
            if lossless {
                json!([v])
            } else {
                v
            }
        }
        (TypeInner::Opt(_), IDLValue::None) => {
            if lossless {
                json!([])
            } else {
                Value::Null
            }
        }
        (TypeInner::Vec(inner), IDLValue::Vec(items)) => {
            if matches!(trace(env, &inner)?, TypeInner::Nat8) {
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
                blob(&bytes, lossless)
            } else {
                Value::Array(
                    items
                        .iter()
                        .map(|v| to_json(env, &inner, v, format))
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
                    Some(value) => to_json(env, &field.ty, value, format),
                    None => Ok(Value::Null),
                }
            };
            if is_tuple(&fields) {
                Value::Array(fields.iter().map(field_value).collect::<Result<_>>()?)
            } else {
                let mut object = serde_json::Map::new();
                for field in &fields {
                    object.insert(label_name(&field.id), field_value(field)?);
                }
                Value::Object(object)
            }
        }
        (TypeInner::Variant(fields), IDLValue::Variant(VariantValue(chosen, _))) => {
            let field = fields
                .iter()
                .find(|f| f.id.get_id() == chosen.id.get_id())
                .ok_or_else(|| {
                    CliError::Input(format!("variant tag {} is not in its type", chosen.id))
                })?;
            json!({ label_name(&field.id): to_json(env, &field.ty, &chosen.val, format)? })
        }
        (ty, value) => {
            return Err(CliError::Input(format!(
                "cannot write {value} of type {ty} as JSON"
            )))
        }
    })
}

fn float(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or_else(|| json!(x.to_string()), Value::Number)
}

fn blob(bytes: &[u8], lossless: bool) -> Value {
    if lossless {
        json!(hex::encode(bytes))
    } else {
        json!(bytes)
    }
}

/// The JSON `json` (found at `path` in the file) as a value of type `ty`.
pub fn from_json(
    env: &TypeEnv,
    ty: &Type,
    json: &Value,
    format: Format,
    path: &str,
) -> Result<IDLValue> {
    let lossless = format == Format::Lossless;
    let inner = trace(env, ty)?;
    let integer = |expected: &str| -> Result<String> {
        match json {
            Value::Number(n) if n.is_u64() || n.is_i64() => Ok(n.to_string()),
            Value::String(s)
                if !s.is_empty()
                    && s.trim_start_matches('-')
                        .bytes()
                        .all(|b| b.is_ascii_digit()) =>
            {
                Ok(s.clone())
            }
            _ => Err(mismatch(path, expected, json)),
        }
    };
    macro_rules! small {
        ($variant:ident, $ty:ty, $name:literal) => {
            IDLValue::$variant(
                integer($name)?
                    .parse::<$ty>()
                    .map_err(|_| mismatch(path, $name, json))?,
            )
        };
    }
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
        TypeInner::Principal => {
            let text = json
                .as_str()
                .ok_or_else(|| mismatch(path, "a principal as text", json))?;
            IDLValue::Principal(
                Principal::from_text(text)
                    .map_err(|_| mismatch(path, "a principal as text", json))?,
            )
        }
        TypeInner::Nat8 => small!(Nat8, u8, "a nat8"),
        TypeInner::Nat16 => small!(Nat16, u16, "a nat16"),
        TypeInner::Nat32 => small!(Nat32, u32, "a nat32"),
        TypeInner::Nat64 => small!(Nat64, u64, "a nat64"),
        TypeInner::Int8 => small!(Int8, i8, "an int8"),
        TypeInner::Int16 => small!(Int16, i16, "an int16"),
        TypeInner::Int32 => small!(Int32, i32, "an int32"),
        TypeInner::Int64 => small!(Int64, i64, "an int64"),
        TypeInner::Nat => IDLValue::Nat(
            integer("a nat")?
                .parse::<Nat>()
                .map_err(|_| mismatch(path, "a nat", json))?,
        ),
        TypeInner::Int => IDLValue::Int(
            integer("an int")?
                .parse::<Int>()
                .map_err(|_| mismatch(path, "an int", json))?,
        ),
        TypeInner::Float32 | TypeInner::Float64 => {
            let x = match json {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.parse::<f64>().ok(),
                _ => None,
            }
            .ok_or_else(|| mismatch(path, "a float", json))?;
            if matches!(inner, TypeInner::Float32) {
                IDLValue::Float32(x as f32)
            } else {
                IDLValue::Float64(x)
            }
        }
        TypeInner::Opt(t) => {
            if lossless {
                match json.as_array().map(Vec::as_slice) {
                    Some([]) => IDLValue::None,
                    Some([v]) => IDLValue::Opt(Box::new(from_json(
                        env,
                        &t,
                        v,
                        format,
                        &format!("{path}[0]"),
                    )?)),
                    _ => {
                        return Err(mismatch(
                            path,
                            "[] or [value] (an opt, lossless form)",
                            json,
                        ))
                    }
                }
            } else if json.is_null() {
                IDLValue::None
            } else {
                IDLValue::Opt(Box::new(from_json(env, &t, json, format, path)?))
            }
        }
        TypeInner::Vec(t) if matches!(trace(env, &t)?, TypeInner::Nat8) => match json {
            Value::String(s) => {
                IDLValue::Blob(hex::decode(s).map_err(|_| mismatch(path, "a blob as hex", json))?)
            }
            Value::Array(items) => IDLValue::Blob(
                items
                    .iter()
                    .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                    .collect::<Option<_>>()
                    .ok_or_else(|| mismatch(path, "a blob as an array of bytes", json))?,
            ),
            _ => return Err(mismatch(path, "a blob (hex text or array of bytes)", json)),
        },
        TypeInner::Vec(t) => {
            let items = json
                .as_array()
                .ok_or_else(|| mismatch(path, "an array", json))?;
            IDLValue::Vec(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| from_json(env, &t, item, format, &format!("{path}[{i}]")))
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
                        let val = from_json(env, &field.ty, item, format, &format!("{path}[{i}]"))?;
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
            if let Some(unknown) = object
                .keys()
                .find(|k| !fields.iter().any(|f| label_name(&f.id) == **k))
            {
                return Err(CliError::Input(format!(
                    "at {path}: the record type has no field `{unknown}`"
                )));
            }
            IDLValue::Record(
                fields
                    .iter()
                    .map(|field| {
                        let name = label_name(&field.id);
                        let field_path = format!("{path}.{name}");
                        let val = match object.get(&name) {
                            Some(v) => from_json(env, &field.ty, v, format, &field_path)?,
                            // A missing optional field is null, as Candid's subtyping allows.
                            None if matches!(
                                trace(env, &field.ty)?,
                                TypeInner::Opt(_) | TypeInner::Null | TypeInner::Reserved
                            ) =>
                            {
                                if matches!(trace(env, &field.ty)?, TypeInner::Opt(_)) {
                                    IDLValue::None
                                } else {
                                    IDLValue::Null
                                }
                            }
                            None => {
                                return Err(CliError::Input(format!(
                                    "at {path}: missing field `{name}`"
                                )))
                            }
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
                .find(|(_, f)| label_name(&f.id) == *tag)
                .ok_or_else(|| {
                    let tags: Vec<String> = fields.iter().map(|f| label_name(&f.id)).collect();
                    CliError::Input(format!(
                        "at {path}: expected one of the tags {}, found `{tag}`",
                        tags.join(", ")
                    ))
                })?;
            let val = from_json(env, &field.ty, value, format, &format!("{path}.{tag}"))?;
            IDLValue::Variant(VariantValue(
                Box::new(IDLField {
                    id: field.id.as_ref().clone(),
                    val,
                }),
                index as u64,
            ))
        }
        other => {
            return Err(CliError::Input(format!(
                "at {path}: values of type {other} cannot be read from JSON"
            )))
        }
    })
}

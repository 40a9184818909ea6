//! A backup file's entries read one at a time, straight from the disk, so
//! that a restore holds one entry (and one batch) in memory, never the file.
//!
//! [`walk`] parses the document as it reads it: the outer value (an array of
//! entries, or a lossless file's object), then each entry as a small
//! [`Value`] handed to the caller, which may stop the walk. The file's
//! SHA-256 is taken from the same bytes.

use crate::error::{Error, Result};
use indicatif::ProgressBar;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserializer as _;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fmt;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

/// What a lossless file's `entries` field was found to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntriesField {
    Missing,
    NotArray,
    Array,
}

/// The outermost value of a backup document, as far as it has been read.
#[derive(Clone, Debug, PartialEq)]
pub enum Outer {
    /// `[[key, value], ...]`.
    Array,
    /// An object (a lossless file): its `format` when met so far, and its
    /// `entries`.
    Object {
        format: Option<Value>,
        entries: EntriesField,
    },
    /// Anything else: a number, a string, `null`...
    Other,
}

/// Whether a walk goes on after an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Next,
    Stop,
}

/// A document read to its end.
#[derive(Debug)]
pub struct Walked {
    pub outer: Outer,
    /// Entries in the document (those skipped included).
    pub entries: u64,
    /// The SHA-256 of the file's bytes.
    pub sha256: [u8; 32],
    /// A lossless file's text fields besides `format` (`map`, `canister`,
    /// `network`, `key`, `value`): whose backup it is.
    pub names: std::collections::BTreeMap<String, String>,
}

/// The entry handler of a walk: the outer value as read so far, the entry's
/// index in the file, the entry.
pub type Each<'a> = dyn FnMut(&Outer, u64, Value) -> Result<Flow> + 'a;

/// Reads the backup document at `path`, calling `each` with every entry from
/// index `skip` on (those before are parsed, not built). Returns the whole
/// document's description, or `None` when `each` stopped the walk. The bar
/// counts the bytes read.
pub fn walk(path: &Path, skip: u64, bar: &ProgressBar, each: &mut Each) -> Result<Option<Walked>> {
    walk_keeping_names(path, skip, bar, each).map(|(walked, _)| walked)
}

/// The text fields a lossless file holds before its first entry (ic-backup
/// writes its header there), read without going further.
pub fn header(path: &Path) -> Result<std::collections::BTreeMap<String, String>> {
    let hidden = ProgressBar::hidden();
    let (walked, names) = walk_keeping_names(path, 0, &hidden, &mut |_, _, _| Ok(Flow::Stop))?;
    Ok(walked.map_or(names, |walked| walked.names))
}

/// [`walk`], and the text fields read, also when `each` stopped the walk.
fn walk_keeping_names(
    path: &Path,
    skip: u64,
    bar: &ProgressBar,
    each: &mut Each,
) -> Result<(Option<Walked>, std::collections::BTreeMap<String, String>)> {
    let file = File::open(path).map_err(|source| Error::io(path, source))?;
    let mut reader = BufReader::with_capacity(
        1 << 16,
        Hashing {
            file,
            hasher: Sha256::new(),
            read: 0,
            bar,
        },
    );
    let mut walker = Walker {
        skip,
        each,
        outer: Outer::Other,
        count: 0,
        halt: None,
        names: Default::default(),
    };
    let mut deserializer = serde_json::Deserializer::from_reader(&mut reader);
    // No depth limit below candid's own: a value nested a thousand levels
    // deep is read, the stack growing as the parser goes deeper.
    deserializer.disable_recursion_limit();
    let parsed = serde_stacker::Deserializer::new(&mut deserializer)
        .deserialize_any(Top(&mut walker))
        .and_then(|()| deserializer.end());
    match (parsed, walker.halt.take()) {
        (_, Some(Halt::Failed(error))) => return Err(error),
        (_, Some(Halt::Stopped)) => return Ok((None, walker.names)),
        (Err(error), None) if error.is_io() => {
            return Err(Error::io(path, std::io::Error::other(error)))
        }
        (Err(error), None) if error.classify() == serde_json::error::Category::Data => {
            return Err(Error::Input(format!("{}: {error}", path.display())))
        }
        (Err(error), None) => {
            return Err(Error::Input(format!(
                "{}: not JSON: {error}",
                path.display()
            )))
        }
        (Ok(()), None) => {}
    }
    // `end` has read up to the end of the file; nothing is left unhashed.
    std::io::copy(&mut reader, &mut std::io::sink()).map_err(|source| Error::io(path, source))?;
    let hashing = reader.into_inner();
    Ok((
        Some(Walked {
            outer: walker.outer,
            entries: walker.count,
            sha256: hashing.hasher.finalize().into(),
            names: walker.names,
        }),
        Default::default(),
    ))
}

/// The file under the parser's buffer: every byte read is hashed and counted.
struct Hashing<'b> {
    file: File,
    hasher: Sha256,
    read: u64,
    bar: &'b ProgressBar,
}

impl Read for Hashing<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        self.bar.set_position(self.read);
        Ok(n)
    }
}

/// Why a walk ended early; serde only carries its own error, so the reason
/// waits here.
enum Halt {
    Failed(Error),
    Stopped,
}

struct Walker<'e, 'a> {
    skip: u64,
    each: &'e mut Each<'a>,
    outer: Outer,
    count: u64,
    halt: Option<Halt>,
    names: std::collections::BTreeMap<String, String>,
}

impl Walker<'_, '_> {
    fn entries<'de, A: SeqAccess<'de>>(&mut self, mut seq: A) -> Result<(), A::Error> {
        loop {
            if self.count < self.skip {
                if seq.next_element::<IgnoredAny>()?.is_none() {
                    return Ok(());
                }
                self.count += 1;
                continue;
            }
            let Some(Strict(entry)) = seq.next_element::<Strict>()? else {
                return Ok(());
            };
            let index = self.count;
            self.count += 1;
            match (self.each)(&self.outer, index, entry) {
                Ok(Flow::Next) => {}
                Ok(Flow::Stop) => return Err(self.halt(Halt::Stopped)),
                Err(error) => return Err(self.halt(Halt::Failed(error))),
            }
        }
    }

    fn halt<E: de::Error>(&mut self, halt: Halt) -> E {
        self.halt = Some(halt);
        E::custom("the walk was ended")
    }
}

/// One JSON value from `text`, at any depth (see [`walk`]), refused when
/// an object in it has a key twice.
pub fn parse_value(text: &str) -> serde_json::Result<Value> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    deserializer.disable_recursion_limit();
    let Strict(value) =
        serde::Deserialize::deserialize(serde_stacker::Deserializer::new(&mut deserializer))?;
    deserializer.end()?;
    Ok(value)
}

/// A JSON value read as `serde_json::Value` reads it, but refused when an
/// object has a key twice (`Value` keeps the last: which one was meant is
/// not known, so neither is taken).
struct Strict(Value);

impl<'de> serde::Deserialize<'de> for Strict {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }
    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }
    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }
    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_string()))
    }
    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut values = Vec::new();
        while let Some(Strict(value)) = seq.next_element()? {
            values.push(value);
        }
        Ok(Value::Array(values))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let Strict(value) = map.next_value()?;
            if object.contains_key(&key) {
                return Err(de::Error::custom(format!(
                    "an object has the key `{key}` twice: which one is meant is not known, so the file is refused"
                )));
            }
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// The outermost value.
struct Top<'w, 'e, 'a>(&'w mut Walker<'e, 'a>);

/// Values that are neither an array nor an object: consumed, and noted.
macro_rules! other_values {
    ($on_other:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
            ($on_other)(self);
            Ok(())
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
            ($on_other)(self);
            Ok(())
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
            ($on_other)(self);
            Ok(())
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
            ($on_other)(self);
            Ok(())
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
            ($on_other)(self);
            Ok(())
        }
        fn visit_unit<E: de::Error>(self) -> Result<(), E> {
            ($on_other)(self);
            Ok(())
        }
    };
}

/// A field's value: its text if it is a string, nothing otherwise.
struct TextOrIgnored(Option<String>);

impl<'de> serde::Deserialize<'de> for TextOrIgnored {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Text;
        impl<'de> Visitor<'de> for Text {
            type Value = TextOrIgnored;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<TextOrIgnored, E> {
                Ok(TextOrIgnored(Some(text.to_string())))
            }
            fn visit_bool<E>(self, _: bool) -> Result<TextOrIgnored, E> {
                Ok(TextOrIgnored(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<TextOrIgnored, E> {
                Ok(TextOrIgnored(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<TextOrIgnored, E> {
                Ok(TextOrIgnored(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<TextOrIgnored, E> {
                Ok(TextOrIgnored(None))
            }
            fn visit_unit<E>(self) -> Result<TextOrIgnored, E> {
                Ok(TextOrIgnored(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TextOrIgnored, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(TextOrIgnored(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TextOrIgnored, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(TextOrIgnored(None))
            }
        }
        deserializer.deserialize_any(Text)
    }
}

impl<'de> Visitor<'de> for Top<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a backup document")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        self.0.outer = Outer::Array;
        self.0.entries(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.0.outer = Outer::Object {
            format: None,
            entries: EntriesField::Missing,
        };
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "format" => {
                    let found: Value = map.next_value()?;
                    if let Outer::Object { format, .. } = &mut self.0.outer {
                        *format = Some(found);
                    }
                }
                "entries" => {
                    if matches!(
                        self.0.outer,
                        Outer::Object {
                            entries: EntriesField::Missing,
                            ..
                        }
                    ) {
                        map.next_value_seed(EntriesSeed(&mut *self.0))?;
                    } else {
                        // Which of two lists is the backup? Neither is taken.
                        return Err(self.0.halt(Halt::Failed(Error::Input(
                            "the document has `entries` twice".into(),
                        ))));
                    }
                }
                "skipped" => {
                    map.next_value::<IgnoredAny>()?;
                }
                _ => {
                    // A text field names whose backup this is; any other is
                    // passed over without being held.
                    if let Some(text) = map.next_value::<TextOrIgnored>()?.0 {
                        self.0.names.insert(key, text);
                    }
                }
            }
        }
        Ok(())
    }

    other_values!(|top: Self| top.0.outer = Outer::Other);
}

/// A lossless file's `entries`.
struct EntriesSeed<'w, 'e, 'a>(&'w mut Walker<'e, 'a>);

impl<'de> DeserializeSeed<'de> for EntriesSeed<'_, '_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl EntriesSeed<'_, '_, '_> {
    fn found(&mut self, found: EntriesField) {
        if let Outer::Object { entries, .. } = &mut self.0.outer {
            *entries = found;
        }
    }
}

impl<'de> Visitor<'de> for EntriesSeed<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the entries of a backup")
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, seq: A) -> Result<(), A::Error> {
        self.found(EntriesField::Array);
        self.0.entries(seq)
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        self.found(EntriesField::NotArray);
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(())
    }

    other_values!(|mut seed: Self| seed.found(EntriesField::NotArray));
}

#[cfg(test)]
mod tests;

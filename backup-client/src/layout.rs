//! Where a canister keeps each stable structure, and what kind it is: the
//! layout a canister built with `#[derive(Backupable)]` carries in its
//! module (the metadata section `backupable:layout`), or the one an
//! operator writes for a canister built without it (a layout file, TOML).
//!
//! ```toml
//! # The types the structures' keys and values name, in Candid.
//! types = """
//! type Post = record { author : principal; text : text; at_nanos : nat64 };
//! """
//!
//! [[structure]]
//! name = "posts"        # how ic-backup names it (backup posts)
//! kind = "vec"          # map, set, vec, log, min-heap or cell
//! memory_id = 3         # its MemoryManager memory (a log: its index memory)
//! value = "Post"        # the values' Candid type
//!
//! [[structure]]
//! name = "audit"
//! kind = "log"
//! memory_id = 4
//! data_memory_id = 5    # a log's entries
//! value = "Event"
//! ```

mod propose;

pub use propose::{propose, UNKNOWN};

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;

/// The metadata section a derived canister's module carries its layout in.
pub const METADATA: &str = "backupable:layout";

/// The collections of ic-stable-structures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Map,
    Set,
    Vec,
    Log,
    MinHeap,
    Cell,
}

impl Kind {
    /// Whether entries travel by index (`nat64`) rather than by key.
    pub fn indexed(self) -> bool {
        !matches!(self, Kind::Map | Kind::Set)
    }

    /// The name ic-stable-structures exports it under.
    pub fn type_name(self) -> &'static str {
        match self {
            Kind::Map => "StableBTreeMap",
            Kind::Set => "StableBTreeSet",
            Kind::Vec => "StableVec",
            Kind::Log => "StableLog",
            Kind::MinHeap => "StableMinHeap",
            Kind::Cell => "StableCell",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Map => "map",
            Kind::Set => "set",
            Kind::Vec => "vec",
            Kind::Log => "log",
            Kind::MinHeap => "min-heap",
            Kind::Cell => "cell",
        })
    }
}

/// One structure of the layout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Structure {
    /// Its name: the suffix of its endpoints, or the operator's choice.
    pub name: String,
    /// The Rust field that declares it (derived canisters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub kind: Kind,
    /// Its memory of the `MemoryManager`; a log's index memory. Left out
    /// (a layout file), the structure is on the whole stable memory, with
    /// no `MemoryManager`: then it is the canister's only one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_id: Option<u8>,
    /// A log's data memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_memory_id: Option<u8>,
    /// Kept out of typed backups (`#[backup(skip)]`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip: bool,
    /// The key's Candid type (a map or set), in a layout file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The values' Candid type (all but a set), in a layout file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// A canister's structures.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layout {
    /// Candid type declarations the keys and values name (a layout file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub types: Option<String>,
    /// Where a derived canister keeps its admin set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_memory_id: Option<u8>,
    #[serde(default, rename = "structure")]
    pub structures: Vec<Structure>,
}

impl Layout {
    /// Parses a layout's TOML text; `origin` names it in errors. Each
    /// structure's memories must be its own, and a log must name its data
    /// memory (and only a log).
    pub fn parse(text: &str, origin: &str) -> Result<Layout> {
        let layout: Layout = toml::from_str(text)
            .map_err(|error| Error::Input(format!("{origin}: not a layout: {error}")))?;
        let mut seen: Vec<(u8, &str)> = Vec::new();
        let mut names: Vec<&str> = Vec::new();
        for structure in &layout.structures {
            let name = &structure.name;
            if names.contains(&name.as_str()) {
                return Err(Error::Input(format!(
                    "{origin}: the name `{name}` is given twice"
                )));
            }
            names.push(name);
            match (structure.kind, structure.data_memory_id) {
                (Kind::Log, None) => {
                    return Err(Error::Input(format!(
                        "{origin}: the log `{name}` needs `data_memory_id`, the memory of its entries (`memory_id` is its index)"
                    )))
                }
                (kind, Some(_)) if kind != Kind::Log => {
                    return Err(Error::Input(format!(
                        "{origin}: `{name}` is a {kind}, which has one memory: `data_memory_id` is for a log"
                    )))
                }
                _ => {}
            }
            if structure.memory_id.is_none() && layout.structures.len() > 1 {
                return Err(Error::Input(format!(
                    "{origin}: `{name}` has no `memory_id`, which puts it on the whole stable memory, yet the layout names {} structures: give each its memory of the MemoryManager",
                    layout.structures.len()
                )));
            }
            if structure.memory_id.is_none() && structure.kind == Kind::Log {
                return Err(Error::Input(format!(
                    "{origin}: the log `{name}` needs `memory_id` and `data_memory_id`: a log keeps two memories, so it cannot be the whole stable memory"
                )));
            }
            for id in structure.memory_ids() {
                if id == 255 {
                    return Err(Error::Input(format!(
                        "{origin}: `{name}`: expected a memory id between 0 and 254, found 255 (the MemoryManager marks free buckets with it)"
                    )));
                }
                if let Some((_, other)) = seen.iter().find(|(seen, _)| *seen == id) {
                    return Err(Error::Input(format!(
                        "{origin}: memory {id} is named twice, by `{other}` and by `{name}`"
                    )));
                }
                seen.push((id, name));
            }
        }
        Ok(layout)
    }

    /// The layout a derived canister's module carries, if it does (older
    /// builds do not: their structures are all maps).
    pub fn of(target: &mut dyn crate::target::Target) -> Result<Option<Layout>> {
        let Some(bytes) = target.metadata(METADATA)? else {
            return Ok(None);
        };
        let text = String::from_utf8(bytes).map_err(|_| {
            Error::Input(format!("the canister's `{METADATA}` metadata is not UTF-8"))
        })?;
        Layout::parse(&text, &format!("the canister's `{METADATA}` metadata")).map(Some)
    }

    /// The structure named `name`.
    pub fn get(&self, name: &str) -> Option<&Structure> {
        self.structures.iter().find(|s| s.name == name)
    }

    /// The layout as TOML text.
    pub fn to_text(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// A layout file (`--layout`): parsed, and each structure given the
    /// Candid types of what it holds.
    pub fn read_file(path: &Path) -> Result<Layout> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::io(path, source))?;
        let origin = path.display().to_string();
        let layout = Layout::parse(&text, &origin)?;
        for structure in &layout.structures {
            let name = &structure.name;
            let kind = structure.kind;
            match (kind, &structure.key, &structure.value) {
                (Kind::Map, Some(_), Some(_)) | (Kind::Set, Some(_), None) => {}
                (Kind::Map | Kind::Set, None, _) => {
                    return Err(Error::Input(format!(
                        "{origin}: the {kind} `{name}` needs `key`, the Candid type of its keys"
                    )))
                }
                (Kind::Set, _, Some(_)) => {
                    return Err(Error::Input(format!(
                        "{origin}: `{name}` is a set, which keeps keys only: `value` is for the other kinds"
                    )))
                }
                (_, Some(_), _) => {
                    return Err(Error::Input(format!(
                        "{origin}: `{name}` is a {kind}, reached by index: `key` is for a map or a set"
                    )))
                }
                (_, _, None) => {
                    return Err(Error::Input(format!(
                        "{origin}: the {kind} `{name}` needs `value`, the Candid type of its values"
                    )))
                }
                _ => {}
            }
        }
        Ok(layout)
    }

    /// The structure `name` of a layout file, its types given: an error
    /// names the structures there are, or the `?` still to fill in.
    pub fn typed(&self, name: &str, origin: &str) -> Result<&Structure> {
        let structure = self.get(name).ok_or_else(|| {
            let names: Vec<&str> = self.structures.iter().map(|s| s.name.as_str()).collect();
            Error::Input(format!(
                "{origin} names no structure `{name}`; it names: {}",
                names.join(", ")
            ))
        })?;
        for (what, ty) in [("key", &structure.key), ("value", &structure.value)] {
            if ty.as_deref() == Some(UNKNOWN) {
                return Err(Error::Input(format!(
                    "{origin}: the {what} type of `{name}` is still `{UNKNOWN}`: write the Candid type of its {what}s there (`inspect --layout` leaves what the image does not tell)"
                )));
            }
        }
        Ok(structure)
    }

    /// The Candid interface a derived canister would publish for these
    /// structures (a layout file's): the types, and for each structure its
    /// `backup_<name>_page` method and page record, so that a backup
    /// through the layout writes the file the derive's endpoints give.
    pub fn interface_source(&self) -> String {
        let mut text = self.types.clone().unwrap_or_default();
        text.push('\n');
        let mut methods = String::new();
        for (at, structure) in self.structures.iter().enumerate() {
            let (key, value) = structure.candid_types();
            // A structure whose types are still to be filled in is left out.
            if key == UNKNOWN || value == UNKNOWN {
                continue;
            }
            text.push_str(&format!(
                "type BackupPage__{at} = record {{ entries : vec record {{ {key}; {value} }}; next : opt {key}; len : nat64; skipped : vec {key} }};\n"
            ));
            methods.push_str(&format!(
                "  \"backup_{}_page\" : (opt {key}, opt nat64, opt {key}) -> (BackupPage__{at}) query;\n",
                structure.name
            ));
        }
        text.push_str(&format!("service : {{\n{methods}}}\n"));
        text
    }
}

impl Structure {
    /// Its memories: the memory, then a log's data memory.
    pub fn memory_ids(&self) -> Vec<u8> {
        [self.memory_id, self.data_memory_id]
            .into_iter()
            .flatten()
            .collect()
    }

    /// The Candid types of its entries' keys (an index: `nat64`) and
    /// values (a set's: `null`), as its pages carry them.
    pub fn candid_types(&self) -> (&str, &str) {
        let key = match self.kind {
            Kind::Map | Kind::Set => self.key.as_deref().unwrap_or("null"),
            _ => "nat64",
        };
        let value = match self.kind {
            Kind::Set => "null",
            _ => self.value.as_deref().unwrap_or("null"),
        };
        (key, value)
    }

    /// Where it is, for messages: `memory 3`, a log's `memories 4 and 5`,
    /// or `stable memory`.
    pub fn place(&self) -> String {
        match (self.memory_id, self.data_memory_id) {
            (Some(id), Some(data)) => format!("memories {id} and {data}"),
            (Some(id), None) => format!("memory {id}"),
            (None, _) => "stable memory".into(),
        }
    }
}

/// Checks the indices of a file's entries (in file order) against what an
/// indexed structure of `len` entries takes, before anything is sent: a
/// cell only index 0; a log or heap consecutive indices from at most its
/// length; a vec increasing indices that leave no gap past its end. The
/// error names the entry of the file.
pub fn check_indices(kind: Kind, name: &str, indices: &[u64], len: u64) -> Result<()> {
    let refuse = |entry: usize, why: String| {
        Err(Error::Input(format!(
            "entry {entry} (index {}) of the file: {why}; `{name}` is a {kind}, nothing was sent",
            indices[entry]
        )))
    };
    let mut end = len;
    for (entry, &index) in indices.iter().enumerate() {
        if kind == Kind::Cell {
            if index != 0 {
                return refuse(entry, "a cell holds one value, at index 0".into());
            }
            continue;
        }
        if let Some(&previous) = entry.checked_sub(1).and_then(|at| indices.get(at)) {
            if index <= previous {
                return refuse(
                    entry,
                    format!("expected indices in increasing order, found {index} after {previous}"),
                );
            }
            if matches!(kind, Kind::Log | Kind::MinHeap) && index != previous + 1 {
                return refuse(
                    entry,
                    format!(
                        "expected index {}, the one after the entry before it (a {kind} grows one index at a time)",
                        previous + 1
                    ),
                );
            }
        }
        if index > end {
            return refuse(
                entry,
                format!(
                    "expected an index of at most {end} (where the next value goes), found {index}: the values between are missing"
                ),
            );
        }
        end = end.max(index + 1);
    }
    Ok(())
}

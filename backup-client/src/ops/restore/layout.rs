//! `restore --layout`: a backup file written into a structure of a
//! canister built without the derive, in an image or a snapshot folder,
//! through its layout file; the image or folder is then loaded into the
//! canister (`ic-backup load`, `ic-backup snapshot upload` and `load`).
//!
//! The file is read and checked against the layout's types, each entry
//! encoded as the canister stores it (the standard encodings of its key
//! and value types, Candid otherwise), written into a copy of stable memory
//! ([`crate::native::write`]) and the copy then replaces the image (or the
//! folder's stable memory) atomically: a refused file changes nothing.

use super::read::{key_of, value_of};
use super::{output, read_entries};
use crate::error::{Error, Result};
use crate::interface::Interface;
use crate::json::Format;
use crate::layout::{Layout, Structure};
use crate::native::write::{self, Entries, Place};
use crate::native::NotNative;
use candid::types::value::IDLValue;
use serde_json::json;
use std::path::Path;

/// Where the structure's stable memory is.
pub enum Into<'a> {
    /// An image file (stable memory as `dump` writes it).
    Image(&'a Path),
    /// A snapshot folder: its `stable_memory.bin`.
    Snapshot(&'a Path),
}

pub struct LayoutRestore<'a> {
    pub layout: &'a Layout,
    pub structure: &'a Structure,
    pub input: &'a Path,
    pub format: Option<Format>,
    /// Empty the structure first.
    pub replace: bool,
    pub into: Into<'a>,
    pub json: bool,
}

/// Restores the file into the structure, all or nothing.
pub fn restore_through_layout(options: LayoutRestore) -> Result<()> {
    let LayoutRestore {
        layout,
        structure,
        input,
        format,
        replace,
        into,
        json,
    } = options;
    let name = &structure.name;
    let interface = Interface::parse(&layout.interface_source())
        .map_err(|error| Error::Input(format!("the layout file's types: {error}")))?;
    let types = interface.map(name)?;
    let file = read_entries(&interface, &types, input, format)?;
    // How the canister stores keys and values, as the backup reads them.
    let plan = crate::ops::backup::direct::Plan::of_layout(structure, &interface, &types)?;
    let (key, value) = (plan.key(), plan.value());
    let env = &interface.env;
    let mut keyed = Vec::new();
    let mut indexed = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (at, entry) in file.entries.iter().enumerate() {
        let (Some(entry_key), Some(entry_value)) = (key_of(entry), value_of(entry)) else {
            return Err(Error::Input(format!(
                "entry {at} of {} is not a key and a value",
                input.display()
            )));
        };
        let stored_value =
            value
                .encode(env, &types.value, entry_value)
                .map_err(|NotNative(why)| {
                    Error::Input(format!("entry {at} of {}: {why}", input.display()))
                })?;
        if structure.kind.indexed() {
            let IDLValue::Nat64(index) = entry_key else {
                return Err(Error::Input(format!(
                    "entry {at} of {}: expected an index (nat64), found {entry_key}",
                    input.display()
                )));
            };
            indexed.push((*index, stored_value));
        } else {
            let stored_key =
                key.stored
                    .from_wire(key.wire, entry_key)
                    .map_err(|NotNative(why)| {
                        Error::Input(format!("entry {at} of {}: {why}", input.display()))
                    })?;
            if !seen.insert(stored_key.clone()) {
                return Err(Error::Input(format!(
                    "entry {at} of {}: the key {entry_key} is given twice",
                    input.display()
                )));
            }
            keyed.push((stored_key, stored_value));
        }
    }
    if structure.kind.indexed() {
        // Every ordering rule the canister's restore keeps, on the file.
        let indices: Vec<u64> = indexed.iter().map(|(index, _)| *index).collect();
        crate::layout::check_indices(structure.kind, name, &indices, u64::MAX)?;
    }
    let entries = if structure.kind.indexed() {
        Entries::Indexed(indexed)
    } else {
        Entries::Keyed(keyed)
    };
    let (path, mut snapshot) = match into {
        Into::Image(path) => (path.to_path_buf(), None),
        Into::Snapshot(dir) => {
            let snapshot = crate::snapshot::Snapshot::open(dir)?;
            (snapshot.stable_memory(), Some(snapshot))
        }
    };
    let image = match std::fs::read(&path) {
        Ok(image) => image,
        // A snapshot of an empty stable memory has no file.
        Err(error) if error.kind() == std::io::ErrorKind::NotFound && snapshot.is_some() => {
            Vec::new()
        }
        Err(source) => return Err(Error::io(&path, source)),
    };
    // Two stored values are the same value when they decode alike.
    let same = |index: u64, stored: &[u8], new: &[u8]| {
        let at = IDLValue::Nat64(index);
        Ok(value.decode(env, &types.value, &at, stored)?
            == value.decode(env, &types.value, &at, new)?)
    };
    let place = Place {
        kind: structure.kind,
        memory_id: structure.memory_id,
        data_memory_id: structure.data_memory_id,
        key: key.stored,
    };
    let (written, held) =
        write::write(&image, &place, &entries, replace, &same).map_err(|why| {
            Error::Input(format!(
                "`{name}`, a {} in {} as the layout says: {why}; {} is unchanged",
                structure.kind,
                structure.place(),
                path.display()
            ))
        })?;
    match &mut snapshot {
        Some(snapshot) => snapshot.write_stable_memory(&written)?,
        None => crate::durable::write_atomically(&path, &written)?,
    }
    let count = entries.len();
    let next = if snapshot.is_some() {
        "`ic-backup snapshot upload` it, then `ic-backup snapshot load`"
    } else {
        "`ic-backup load` puts it into the canister"
    };
    output(
        json,
        json!({ "structure": name, "entries": count, "holds": held, "into": path }),
        || {
            format!(
                "{count} entries of {} restored into `{name}` ({held} now) in {}; {next}",
                input.display(),
                path.display()
            )
        },
    );
    Ok(())
}

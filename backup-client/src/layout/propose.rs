//! `inspect --layout`: a layout file proposed from what an image holds.
//!
//! From a derived canister's module (a snapshot folder's, or `--wasm`),
//! the layout is the one its `backupable:layout` metadata carries, with
//! each structure's Candid types from its interface: a file that works as
//! it is. Without one, each memory's structure is named by its magic
//! (map, vec, min-heap, cell, log index and data), its key and value types
//! left as `"?"` for the operator to fill in, with what the image shows of
//! them in comments. Nothing is guessed silently: every choice the image
//! does not settle is a comment or a `?`.

use super::{Kind, Layout, METADATA};
use crate::error::Result;
use crate::interface::Interface;
use serde_json::Value;

/// The placeholder of a type the image does not tell.
pub const UNKNOWN: &str = "?";

/// The layout file proposed for the image `summary` describes
/// (`describe_image`), with the module's metadata sections if there is a
/// module.
pub fn propose(summary: &Value, module: Option<&[u8]>) -> Result<String> {
    let sections = module.map(canister_runner::module_metadata);
    let section = |name: &str| {
        sections
            .iter()
            .flatten()
            .find(|section| section.name == name)
            .and_then(|section| String::from_utf8(section.bytes.clone()).ok())
    };
    if let (Some(layout), Some(module)) = (section(METADATA), module) {
        let layout = Layout::parse(&layout, &format!("the module's `{METADATA}` metadata"))?;
        // The interface: its metadata section, or (ic-cdk's
        // `export_candid!`) what the module says in the runner, installed
        // on an empty memory of its own (nothing on disk is touched).
        let candid = section("candid:service").or_else(|| {
            canister_runner::Canister::install(module, Default::default())
                .ok()?
                .candid_interface()
        });
        if let Some(candid) = candid {
            return derived(layout, &candid);
        }
    }
    Ok(from_memories(summary))
}

/// A derived canister's own layout, with the types of its interface.
fn derived(mut layout: Layout, candid: &str) -> Result<String> {
    let interface = Interface::parse(candid)?;
    let mut all = Vec::new();
    for structure in &mut layout.structures {
        let Ok(types) = interface.map(&structure.name) else {
            // A skipped structure has no endpoints, so no types here.
            continue;
        };
        if !structure.kind.indexed() {
            structure.key = Some(types.key.to_string());
        }
        if structure.kind != Kind::Set {
            structure.value = Some(types.value.to_string());
        }
        all.push(types.key);
        all.push(types.value);
    }
    layout.structures.retain(|s| !s.skip);
    let refs: Vec<&candid::types::Type> = all.iter().collect();
    let types = crate::versions::types_text(&interface.env, &refs);
    layout.types = (!types.trim().is_empty()).then_some(types);
    layout.auth_memory_id = None;
    for structure in &mut layout.structures {
        structure.field = None;
    }
    Ok(format!(
        "# The layout the canister's module carries (#[derive(Backupable)]), with\n# the types of its interface: `ic-backup backup <name> --layout <this file>`\n# reads each structure from stable memory alone.\n\n{}",
        layout.to_text()
    ))
}

/// A proposal from each memory's magic alone.
fn from_memories(summary: &Value) -> String {
    let mut text = String::from(
        "# Proposed by `ic-backup inspect --layout` from the structures found in\n# each memory. Fill in each `?` with the Candid type of the keys or\n# values (declare named types in `types`), name the structures, and check\n# each `kind` and log pairing; then `ic-backup backup <name> --layout <file>`.\n\ntypes = \"\"\"\n\"\"\"\n",
    );
    let memories: Vec<&Value> = summary["memories"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    fn kind_of(memory: &Value) -> Option<&str> {
        match &memory["btreemap"] {
            map if map.get("entries").is_some() => Some("map"),
            _ => memory["structure"]["kind"].as_str(),
        }
    }
    // Each log index pairs with the data memory that follows it most
    // closely (as `memory_id` and `memory_id + 1` usually are).
    let mut data: Vec<u64> = memories
        .iter()
        .filter(|memory| kind_of(memory) == Some("StableLog data"))
        .filter_map(|memory| memory["id"].as_u64())
        .collect();
    for memory in &memories {
        let id = memory["id"].as_u64().unwrap_or(0);
        let entry = |kind: &str, extra: &str, note: String| {
            format!("\n{note}[[structure]]\nname = \"memory_{id}\"\nkind = \"{kind}\"\nmemory_id = {id}\n{extra}")
        };
        let value = format!("value = \"{UNKNOWN}\"\n");
        let block = match kind_of(memory) {
            Some("map") => entry(
                "map",
                &format!("key = \"{UNKNOWN}\"\n{value}"),
                format!(
                    "# A StableBTreeMap of {} entries (a StableBTreeSet if its values are `()`:\n# then kind = \"set\" and no value).\n",
                    memory["btreemap"]["entries"]
                ),
            ),
            Some(name @ ("StableVec" | "StableMinHeap")) => entry(
                if name == "StableVec" { "vec" } else { "min-heap" },
                &value,
                format!(
                    "# A {name} of {} elements of at most {} bytes.\n",
                    memory["structure"]["elements"], memory["structure"]["max_element_bytes"]
                ),
            ),
            Some("StableCell") => entry(
                "cell",
                &value,
                format!(
                    "# A StableCell holding {} bytes.\n",
                    memory["structure"]["value_bytes"]
                ),
            ),
            Some("StableLog index") => {
                let pair = data.iter().position(|&d| d > id).or(if data.is_empty() {
                    None
                } else {
                    Some(0)
                });
                match pair.map(|at| data.remove(at)) {
                    Some(d) => entry(
                        "log",
                        &format!("data_memory_id = {d}\n{value}"),
                        format!(
                            "# A StableLog of {} entries; its data memory is {d} if the canister\n# paired them so (check `StableLog::init` in its code).\n",
                            memory["structure"]["entries"]
                        ),
                    ),
                    None => format!(
                        "\n# Memory {id}: a StableLog index whose data memory was not found.\n"
                    ),
                }
            }
            Some("StableLog data") => continue,
            _ => format!(
                "\n# Memory {id}: no structure of ic-stable-structures starts there ({}).\n",
                match &memory["btreemap"] {
                    Value::Null => "empty".to_string(),
                    map => map["not_a_map"].to_string(),
                }
            ),
        };
        text.push_str(&block);
    }
    for d in data {
        text.push_str(&format!(
            "\n# Memory {d}: the data of a StableLog whose index was not found.\n"
        ));
    }
    text
}

//! Checks that need the whole struct: memory ids and generated names.

use crate::ast::{Input, Kind, Map};
use crate::ctxt::Ctxt;
use quote::ToTokens;
use std::collections::BTreeMap;

/// `MemoryManager` manages ids 0..=254; 255 marks a free bucket.
pub const MAX_MEMORY_ID: u64 = 254;
/// Where the admin set lives unless the struct says otherwise.
pub const DEFAULT_AUTH_MEMORY_ID: u64 = 254;

/// A `MemoryId` in range, made only by [`Input::validate`]; the expansion,
/// which takes it, runs only once validation recorded no error (so it is
/// also unique and not the admin set's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryId(u8);

impl MemoryId {
    /// The id as an unsuffixed literal, for `MemoryId::new(#id)`.
    pub fn literal(self) -> proc_macro2::Literal {
        proc_macro2::Literal::u8_unsuffixed(self.0)
    }

    pub fn value(self) -> u8 {
        self.0
    }
}

/// The memory ids of one structure: its memory (a log's index memory), and
/// a log's data memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ids {
    pub memory: MemoryId,
    pub data: Option<MemoryId>,
}

/// What validation proved: the memory ids of each structure (in the order
/// of `Input::maps`) and of the admin set.
pub struct Checked {
    pub maps: Vec<Ids>,
    pub auth: MemoryId,
}

fn checked(value: u64) -> Option<MemoryId> {
    u8::try_from(value)
        .ok()
        .filter(|id| u64::from(*id) <= MAX_MEMORY_ID)
        .map(MemoryId)
}

impl Input<'_> {
    fn auth_memory_id(&self) -> u64 {
        self.attrs
            .auth_memory_id
            .as_ref()
            .map_or(DEFAULT_AUTH_MEMORY_ID, |id| id.value)
    }

    /// Records every mistake in `cx`; when there is none, the checked ids.
    pub fn validate(&self, cx: &Ctxt) -> Option<Checked> {
        self.check(cx);
        Some(Checked {
            maps: self
                .maps
                .iter()
                .map(|map| {
                    Some(Ids {
                        memory: checked(map.attrs.memory_id.as_ref()?.value)?,
                        data: match &map.attrs.data_memory_id {
                            Some(id) => Some(checked(id.value)?),
                            None => None,
                        },
                    })
                })
                .collect::<Option<_>>()?,
            auth: checked(self.auth_memory_id())?,
        })
    }

    fn check(&self, cx: &Ctxt) {
        if let Some(id) = &self.attrs.auth_memory_id {
            if id.value > MAX_MEMORY_ID {
                cx.error_spanned_by(&id.original, out_of_range("auth_memory_id", id.value));
            }
        }
        let auth = self.auth_memory_id();
        let mut ids: BTreeMap<u64, &Map> = BTreeMap::new();
        let mut names: BTreeMap<String, &Map> = BTreeMap::new();
        let mut statics: BTreeMap<String, &Map> = BTreeMap::new();
        for map in &self.maps {
            map.check_options(cx);
            let what = map.kind.type_name();
            match &map.attrs.memory_id {
                None => cx.error_spanned_by(
                    map.ident,
                    format!(
                        "missing `#[backup(memory_id = N)]` on field `{}`: each {what} needs its own MemoryId (0..=254){}",
                        map.ident,
                        if map.kind == Kind::Log { ", and a log a second one for its data, `data_memory_id = N`" } else { "" }
                    ),
                ),
                Some(id) => check_id(cx, id, map, auth, &mut ids),
            }
            if let Some(id) = &map.attrs.data_memory_id {
                check_id(cx, id, map, auth, &mut ids);
            }
            let statik = map.static_name().to_string();
            if let Some(first) = statics.insert(statik.clone(), map) {
                cx.error_spanned_by(
                    map.ident,
                    format!(
                        "fields `{}` and `{}` would both declare the static `{statik}`",
                        first.ident, map.ident
                    ),
                );
            }
            if map.attrs.skip.is_some() {
                continue;
            }
            for endpoint in map.endpoint_names() {
                if let Some(first) = names.insert(endpoint.clone(), map) {
                    let blame = map.attrs.rename.as_ref().map_or_else(
                        || map.ident.to_token_stream(),
                        |rename| rename.original.to_token_stream(),
                    );
                    cx.error_spanned_by(
                        blame,
                        format!(
                            "endpoint `{endpoint}` of field `{}` clashes with one of field `{}`; use `rename = \"...\"` to pick another name",
                            map.ident, first.ident
                        ),
                    );
                    break;
                }
            }
        }
    }
}

/// Records an id out of range, the admin set's, or one a field before took.
fn check_id<'a>(
    cx: &Ctxt,
    id: &crate::attr::Spanned<u64, syn::LitInt>,
    map: &'a Map<'a>,
    auth: u64,
    ids: &mut BTreeMap<u64, &'a Map<'a>>,
) {
    if id.value > MAX_MEMORY_ID {
        let option = if map
            .attrs
            .data_memory_id
            .as_ref()
            .is_some_and(|data| std::ptr::eq(data, id))
        {
            "data_memory_id"
        } else {
            "memory_id"
        };
        cx.error_spanned_by(&id.original, out_of_range(option, id.value));
    } else if id.value == auth {
        cx.error_spanned_by(
            &id.original,
            format!(
                "memory_id {auth} is where the admin set lives; choose another id, or move the admin set with `#[backup(auth_memory_id = N)]` on the struct"
            ),
        );
    } else if let Some(first) = ids.insert(id.value, map) {
        ids.insert(id.value, first);
        let whose = if std::ptr::eq(first, map) {
            "the field's other memory".to_string()
        } else {
            format!("field `{}`", first.ident)
        };
        cx.error_spanned_by(
            &id.original,
            format!("duplicate memory_id {}: {whose} already uses it", id.value),
        );
    }
}

impl Map<'_> {
    /// Records each option this kind of structure does not take, or lacks.
    fn check_options(&self, cx: &Ctxt) {
        let what = self.kind.type_name();
        if let Some(key) = self.attrs.text_key.as_ref().filter(|_| !self.kind.keyed()) {
            cx.error_spanned_by(
                key,
                format!("`key = text` is for the keys of a map or set; a {what} travels by index (`nat64`)"),
            );
        }
        match (&self.attrs.data_memory_id, self.kind) {
            (None, Kind::Log) => cx.error_spanned_by(
                self.ident,
                format!(
                    "missing `#[backup(data_memory_id = N)]` on field `{}`: a StableLog keeps its index in `memory_id` and its entries in a second memory",
                    self.ident
                ),
            ),
            (Some(id), kind) if kind != Kind::Log => cx.error_spanned_by(
                &id.original,
                format!("`data_memory_id` is for a StableLog's data memory; a {what} has one memory, `memory_id`"),
            ),
            _ => {}
        }
        if let Some(default) = self
            .attrs
            .default
            .as_ref()
            .filter(|_| self.kind != Kind::Cell)
        {
            cx.error_spanned_by(
                &default.original,
                format!("`default` is a StableCell's value in a new memory; a {what} starts empty"),
            );
        }
    }
}

fn out_of_range(option: &str, value: u64) -> String {
    format!(
        "expected {option} between 0 and {MAX_MEMORY_ID}, found {value}{}",
        if value == 255 {
            " (MemoryManager reserves 255 to mark free buckets)"
        } else {
            ""
        }
    )
}

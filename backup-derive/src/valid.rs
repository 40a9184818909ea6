//! Checks that need the whole struct: memory ids and generated names.

use crate::ast::{Input, Map};
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
}

/// What validation proved: the memory id of each map (in the order of
/// `Input::maps`) and of the admin set.
pub struct Checked {
    pub maps: Vec<MemoryId>,
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
                .map(|map| checked(map.attrs.memory_id.as_ref()?.value))
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
            match &map.attrs.memory_id {
                None => cx.error_spanned_by(
                    map.ident,
                    format!(
                        "missing `#[backup(memory_id = N)]` on field `{}`: each map needs its own MemoryId (0..=254)",
                        map.ident
                    ),
                ),
                Some(id) if id.value > MAX_MEMORY_ID => {
                    cx.error_spanned_by(&id.original, out_of_range("memory_id", id.value))
                }
                Some(id) if id.value == auth => cx.error_spanned_by(
                    &id.original,
                    format!(
                        "memory_id {auth} is where the admin set lives; choose another id, or move the admin set with `#[backup(auth_memory_id = N)]` on the struct"
                    ),
                ),
                Some(id) => {
                    if let Some(first) = ids.insert(id.value, map) {
                        ids.insert(id.value, first);
                        cx.error_spanned_by(
                            &id.original,
                            format!("duplicate memory_id {}: field `{}` already uses it", id.value, first.ident),
                        );
                    }
                }
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

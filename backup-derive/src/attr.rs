//! `#[backup(...)]` on the struct and on its fields.
//!
//! A bad option is recorded and parsing goes on, so every mistake in the
//! struct is reported in one build.

use crate::ctxt::Ctxt;
use syn::meta::ParseNestedMeta;
use syn::{Attribute, Ident, LitInt, LitStr, Path};

/// A value together with the tokens it came from, for error spans.
pub struct Spanned<T, S> {
    pub value: T,
    pub original: S,
}

/// `#[backup(memory = path, auth_memory_id = N)]` on the struct.
#[derive(Default)]
pub struct StructAttrs {
    pub memory: Option<Path>,
    pub auth_memory_id: Option<Spanned<u64, LitInt>>,
}

/// `#[backup(memory_id = N, data_memory_id = N, key = text, rename = "x",
/// default = expr, skip)]` on a field.
#[derive(Default)]
pub struct FieldAttrs {
    pub memory_id: Option<Spanned<u64, LitInt>>,
    /// A log's data memory (`memory_id` is its index memory).
    pub data_memory_id: Option<Spanned<u64, LitInt>>,
    /// A cell's value in a memory that holds none yet.
    pub default: Option<Spanned<syn::Expr, Path>>,
    pub text_key: Option<Ident>,
    pub rename: Option<Spanned<Ident, LitStr>>,
    pub skip: Option<Path>,
}

const STRUCT_OPTIONS: &str = "`memory` or `auth_memory_id`";
const FIELD_OPTIONS: &str = "`memory_id`, `data_memory_id`, `key`, `rename`, `default` or `skip`";

fn backup_attrs(attrs: &[Attribute]) -> impl Iterator<Item = &Attribute> {
    attrs.iter().filter(|attr| attr.path().is_ident("backup"))
}

/// Records `duplicate backup attribute` when `slot` is already set.
fn set_once<T>(cx: &Ctxt, meta: &ParseNestedMeta, slot: &mut Option<T>, value: T) {
    if slot.is_some() {
        cx.error_spanned_by(
            &meta.path,
            format!("duplicate backup attribute `{}`", path_name(&meta.path)),
        );
    } else {
        *slot = Some(value);
    }
}

fn path_name(path: &Path) -> String {
    path.segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}

/// Consumes the value of an option we do not know, so parsing can go on.
fn skip_value(meta: &ParseNestedMeta) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        meta.value()?.parse::<syn::Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        meta.parse_nested_meta(|nested| skip_value(&nested))?;
    }
    Ok(())
}

fn memory_id(meta: &ParseNestedMeta) -> syn::Result<Spanned<u64, LitInt>> {
    let literal: LitInt = meta.value()?.parse()?;
    let value = literal.base10_parse::<u64>()?;
    Ok(Spanned {
        value,
        original: literal,
    })
}

pub fn struct_attrs(cx: &Ctxt, attrs: &[Attribute]) -> StructAttrs {
    let mut out = StructAttrs::default();
    for attr in backup_attrs(attrs) {
        let parsed = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("memory") {
                let path: Path = meta.value()?.parse()?;
                set_once(cx, &meta, &mut out.memory, path);
            } else if meta.path.is_ident("auth_memory_id") {
                let id = memory_id(&meta)?;
                set_once(cx, &meta, &mut out.auth_memory_id, id);
            } else if meta.path.is_ident("memory_id")
                || meta.path.is_ident("data_memory_id")
                || meta.path.is_ident("default")
                || meta.path.is_ident("key")
                || meta.path.is_ident("rename")
                || meta.path.is_ident("skip")
            {
                cx.error_spanned_by(
                    &meta.path,
                    format!(
                        "`{}` is a field option: put it on the field, not on the struct",
                        path_name(&meta.path)
                    ),
                );
                skip_value(&meta)?;
            } else {
                cx.error_spanned_by(
                    &meta.path,
                    format!(
                        "unknown backup struct attribute `{}`; expected {STRUCT_OPTIONS}",
                        path_name(&meta.path)
                    ),
                );
                skip_value(&meta)?;
            }
            Ok(())
        });
        if let Err(error) = parsed {
            cx.push(error);
        }
    }
    out
}

pub fn field_attrs(cx: &Ctxt, attrs: &[Attribute]) -> FieldAttrs {
    let mut out = FieldAttrs::default();
    for attr in backup_attrs(attrs) {
        let parsed = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("memory_id") {
                let id = memory_id(&meta)?;
                set_once(cx, &meta, &mut out.memory_id, id);
            } else if meta.path.is_ident("data_memory_id") {
                let id = memory_id(&meta)?;
                set_once(cx, &meta, &mut out.data_memory_id, id);
            } else if meta.path.is_ident("default") {
                let value: syn::Expr = meta.value()?.parse()?;
                set_once(cx, &meta, &mut out.default, Spanned { value, original: meta.path.clone() });
            } else if meta.path.is_ident("key") {
                let mode: Ident = meta.value()?.parse()?;
                if mode == "text" {
                    set_once(cx, &meta, &mut out.text_key, mode);
                } else {
                    cx.error_spanned_by(
                        &mode,
                        format!("unknown key mode `{mode}`; expected `key = text` (or no `key` option for keys in their own Candid type)"),
                    );
                }
            } else if meta.path.is_ident("rename") {
                let literal: LitStr = meta.value()?.parse()?;
                match literal.parse::<Ident>() {
                    Ok(ident) => set_once(cx, &meta, &mut out.rename, Spanned { value: ident, original: literal }),
                    Err(_) => cx.error_spanned_by(
                        &literal,
                        format!(
                            "expected `rename` to be a Rust identifier such as \"user_profiles\", found {:?}",
                            literal.value()
                        ),
                    ),
                }
            } else if meta.path.is_ident("skip") {
                set_once(cx, &meta, &mut out.skip, meta.path.clone());
            } else if meta.path.is_ident("memory") || meta.path.is_ident("auth_memory_id") {
                cx.error_spanned_by(
                    &meta.path,
                    format!("`{}` is a struct option: put it on the struct, not on a field", path_name(&meta.path)),
                );
                skip_value(&meta)?;
            } else {
                cx.error_spanned_by(
                    &meta.path,
                    format!("unknown backup field attribute `{}`; expected {FIELD_OPTIONS}", path_name(&meta.path)),
                );
                skip_value(&meta)?;
            }
            Ok(())
        });
        if let Err(error) = parsed {
            cx.push(error);
        }
    }
    out
}

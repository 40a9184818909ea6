//! The derive input as this crate sees it: a struct of maps.

use crate::attr::{self, FieldAttrs, StructAttrs};
use crate::ctxt::Ctxt;
use quote::ToTokens;
use syn::{Data, DeriveInput, Fields, GenericArgument, Ident, PathArguments, Type};

pub struct Input<'a> {
    pub original: &'a DeriveInput,
    pub attrs: StructAttrs,
    pub maps: Vec<Map<'a>>,
}

/// One `StableBTreeMap<K, V, M>` field.
pub struct Map<'a> {
    pub original: &'a syn::Field,
    pub ident: &'a Ident,
    pub key: &'a Type,
    pub value: &'a Type,
    pub memory: &'a Type,
    pub attrs: FieldAttrs,
}

impl<'a> Input<'a> {
    /// Reads the struct, recording every problem of shape in `cx`. Returns
    /// `None` when the input is not a struct with named fields at all.
    pub fn from_syn(cx: &Ctxt, input: &'a DeriveInput) -> Option<Input<'a>> {
        let attrs = attr::struct_attrs(cx, &input.attrs);
        let shape =
            "#[derive(Backupable)] expects a struct with named fields, one per StableBTreeMap";
        let fields = match &input.data {
            Data::Struct(data) => match &data.fields {
                Fields::Named(fields) => fields,
                Fields::Unnamed(fields) => {
                    cx.error_spanned_by(fields, format!("{shape}; found a tuple struct"));
                    return None;
                }
                Fields::Unit => {
                    cx.error_spanned_by(&input.ident, format!("{shape}; found a unit struct"));
                    return None;
                }
            },
            Data::Enum(data) => {
                cx.error_spanned_by(data.enum_token, format!("{shape}; found an enum"));
                return None;
            }
            Data::Union(data) => {
                cx.error_spanned_by(data.union_token, format!("{shape}; found a union"));
                return None;
            }
        };
        if !input.generics.params.is_empty() {
            cx.error_spanned_by(
                &input.generics,
                "#[derive(Backupable)] declares the canister's statics, so the struct cannot be generic",
            );
        }
        if fields.named.is_empty() {
            cx.error_spanned_by(
                &input.ident,
                "expected at least one StableBTreeMap field to back up",
            );
        }
        let maps = fields
            .named
            .iter()
            .filter_map(|field| Map::from_syn(cx, field))
            .collect();
        Some(Input {
            original: input,
            attrs,
            maps,
        })
    }
}

impl<'a> Map<'a> {
    fn from_syn(cx: &Ctxt, field: &'a syn::Field) -> Option<Map<'a>> {
        let attrs = attr::field_attrs(cx, &field.attrs);
        let ident = field.ident.as_ref()?;
        let Some([key, value, memory]) = map_arguments(&field.ty) else {
            cx.error_spanned_by(
                &field.ty,
                format!(
                    "expected `StableBTreeMap<K, V, Memory>` for field `{ident}`, found `{}`",
                    type_text(&field.ty)
                ),
            );
            return None;
        };
        Some(Map {
            original: field,
            ident,
            key,
            value,
            memory,
            attrs,
        })
    }
}

/// `K`, `V`, `M` of `...::StableBTreeMap<K, V, M>` (or ic-stable-structures'
/// own name for it, `BTreeMap<K, V, M>`, which std's two-argument map is not).
fn map_arguments(ty: &Type) -> Option<[&Type; 3]> {
    let Type::Path(path) = ty else { return None };
    if path.qself.is_some() {
        return None;
    }
    let last = path.path.segments.last()?;
    if last.ident != "StableBTreeMap" && last.ident != "BTreeMap" {
        return None;
    }
    let PathArguments::AngleBracketed(arguments) = &last.arguments else {
        return None;
    };
    let types: Vec<&Type> = arguments
        .args
        .iter()
        .map(|argument| match argument {
            GenericArgument::Type(ty) => Some(ty),
            _ => None,
        })
        .collect::<Option<_>>()?;
    types.try_into().ok()
}

/// A type as the user would write it, for messages.
pub fn type_text(ty: &Type) -> String {
    let text = ty.to_token_stream().to_string();
    text.replace(" :: ", "::")
        .replace(":: ", "::")
        .replace(" < ", "<")
        .replace("< ", "<")
        .replace(" >", ">")
        .replace(" ,", ",")
        .replace("& ", "&")
}

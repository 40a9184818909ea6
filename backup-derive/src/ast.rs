//! The derive input as this crate sees it: a struct of stable structures.

use crate::attr::{self, FieldAttrs, StructAttrs};
use crate::ctxt::Ctxt;
use quote::ToTokens;
use syn::{Data, DeriveInput, Fields, GenericArgument, Ident, PathArguments, Type};

pub struct Input<'a> {
    pub original: &'a DeriveInput,
    pub attrs: StructAttrs,
    pub maps: Vec<Map<'a>>,
}

/// The collections of ic-stable-structures a field may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Map,
    Set,
    Vec,
    Log,
    MinHeap,
    Cell,
}

impl Kind {
    /// The type's name as ic-stable-structures exports it, for messages.
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

    /// The kind's name in the layout `ic-backup` reads.
    pub fn layout_name(self) -> &'static str {
        match self {
            Kind::Map => "map",
            Kind::Set => "set",
            Kind::Vec => "vec",
            Kind::Log => "log",
            Kind::MinHeap => "min-heap",
            Kind::Cell => "cell",
        }
    }

    /// Whether the structure is keyed (a map, a set), not indexed.
    pub fn keyed(self) -> bool {
        matches!(self, Kind::Map | Kind::Set)
    }
}

/// One field: a collection of ic-stable-structures. Called a map here, as
/// maps came first; `kind` says which collection it is.
pub struct Map<'a> {
    pub original: &'a syn::Field,
    pub ident: &'a Ident,
    pub kind: Kind,
    /// The key of a map or a set.
    pub key: Option<&'a Type>,
    /// The values of a map, vec, log, heap or cell.
    pub value: Option<&'a Type>,
    /// The memory (a log's index memory).
    pub memory: &'a Type,
    /// A log's data memory.
    pub data_memory: Option<&'a Type>,
    pub attrs: FieldAttrs,
}

impl<'a> Input<'a> {
    /// Reads the struct, recording every problem of shape in `cx`. Returns
    /// `None` when the input is not a struct with named fields at all.
    pub fn from_syn(cx: &Ctxt, input: &'a DeriveInput) -> Option<Input<'a>> {
        let attrs = attr::struct_attrs(cx, &input.attrs);
        let shape =
            "#[derive(Backupable)] expects a struct with named fields, one per stable structure";
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
                "expected at least one stable structure field (a StableBTreeMap, say) to back up",
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
        let Some((kind, arguments)) = collection(&field.ty) else {
            cx.error_spanned_by(
                &field.ty,
                format!(
                    "expected a collection of ic-stable-structures for field `{ident}` (`StableBTreeMap<K, V, Memory>`, `StableBTreeSet<K, Memory>`, `StableVec<T, Memory>`, `StableLog<T, Memory, Memory>`, `StableMinHeap<T, Memory>` or `StableCell<T, Memory>`), found `{}`",
                    type_text(&field.ty)
                ),
            );
            return None;
        };
        let (key, value, memory, data_memory) = match (kind, arguments.as_slice()) {
            (Kind::Map, [key, value, memory]) => (Some(*key), Some(*value), *memory, None),
            (Kind::Set, [key, memory]) => (Some(*key), None, *memory, None),
            (Kind::Log, [value, index, data]) => (None, Some(*value), *index, Some(*data)),
            (Kind::Vec | Kind::MinHeap | Kind::Cell, [value, memory]) => {
                (None, Some(*value), *memory, None)
            }
            _ => unreachable!("`collection` returns the arguments its kind takes"),
        };
        Some(Map {
            original: field,
            ident,
            kind,
            key,
            value,
            memory,
            data_memory,
            attrs,
        })
    }
}

/// The kind and the type arguments of a collection of ic-stable-structures:
/// `StableBTreeMap<K, V, M>` (or its own name for it, `BTreeMap<K, V, M>`,
/// which std's two-argument map is not), `StableBTreeSet<K, M>` (or
/// `BTreeSet<K, M>`), `StableVec<T, M>`, `StableLog<T, I, D>` (or
/// `Log<T, I, D>`), `StableMinHeap<T, M>` (or `MinHeap<T, M>`),
/// `StableCell<T, M>`. A `Vec` or `Cell` is std's, whatever its arguments.
fn collection(ty: &Type) -> Option<(Kind, Vec<&Type>)> {
    let Type::Path(path) = ty else { return None };
    if path.qself.is_some() {
        return None;
    }
    let last = path.path.segments.last()?;
    let (kind, count) = match last.ident.to_string().as_str() {
        "StableBTreeMap" | "BTreeMap" => (Kind::Map, 3),
        "StableBTreeSet" | "BTreeSet" => (Kind::Set, 2),
        "StableVec" => (Kind::Vec, 2),
        "StableLog" | "Log" => (Kind::Log, 3),
        "StableMinHeap" | "MinHeap" => (Kind::MinHeap, 2),
        "StableCell" => (Kind::Cell, 2),
        _ => return None,
    };
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
    (types.len() == count).then_some((kind, types))
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

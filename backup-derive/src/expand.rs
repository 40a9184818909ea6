//! From the checked input to the generated items: statics, type checks and
//! native image access here; endpoints and guards in `endpoints`.

use crate::ast::{Input, Kind, Map};
use crate::ctxt::Ctxt;
use crate::names::{admins_static, static_name};
use crate::tokens::{private, respan};
use crate::valid::{Checked, Ids, MemoryId};
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::DeriveInput;

pub fn derive(input: &DeriveInput) -> Result<TokenStream, Vec<syn::Error>> {
    let cx = Ctxt::new();
    let parsed = Input::from_syn(&cx, input);
    let checked = parsed.as_ref().and_then(|parsed| parsed.validate(&cx));
    cx.check()?;
    // `from_syn` and `validate` return `None` only after recording an error,
    // so `check` has already returned; an empty expansion is the harmless
    // answer otherwise.
    Ok(match (parsed, checked) {
        (Some(input), Some(checked)) => expand(&input, &checked),
        _ => TokenStream::new(),
    })
}

/// What a refused struct still declares, the way serde_derive and thiserror
/// emit a minimal item: the statics (when the struct is not generic), the two
/// guards and the image functions, with bodies that never run. Code of the
/// crate that names them then compiles, and the user sees only the real
/// mistakes.
pub fn stub(input: &DeriveInput) -> TokenStream {
    let p = private();
    let generic = !input.generics.params.is_empty();
    let fields: Vec<&syn::Field> = match &input.data {
        syn::Data::Struct(data) if !generic => data.fields.iter().collect(),
        _ => Vec::new(),
    };
    let statics = fields.iter().filter_map(|field| {
        let name = static_name(field.ident.as_ref()?);
        let (vis, ty) = (&field.vis, &field.ty);
        Some(quote!(#vis static #name: #p::RefCell<#ty> = #p::RefCell::new(#p::never());))
    });
    let ident = &input.ident;
    let image = (!generic).then(|| {
        quote! {
            #[cfg(not(target_family = "wasm"))]
            #[automatically_derived]
            impl #ident {
                pub fn open_image(
                    _path: impl ::std::convert::AsRef<::std::path::Path>,
                ) -> #p::Result<#p::image::Layout, #p::image::ImageError> {
                    #p::never()
                }
                pub fn save_image(
                    _path: impl ::std::convert::AsRef<::std::path::Path>,
                ) -> #p::Result<(), #p::image::ImageError> {
                    #p::never()
                }
                pub fn reload() {
                    #p::never()
                }
            }
        }
    });
    quote! {
        ::std::thread_local! {
            #(#statics)*
        }
        pub fn is_authorized() -> #p::Result<(), #p::String> {
            #p::never()
        }
        pub fn is_stable_authorized() -> #p::Result<(), #p::String> {
            #p::never()
        }
        #image
    }
}

fn expand(input: &Input, checked: &Checked) -> TokenStream {
    let statics = statics(input, checked);
    let type_checks = type_checks(input);
    let endpoints = crate::endpoints::expand(input, checked);
    let image = image_access(input, checked);
    let once = once_per_crate(input);
    let layout = layout_section(input, checked);
    quote! {
        #once
        #layout
        #statics
        #type_checks
        #endpoints
        #image
    }
}

/// An exported macro, which lives at the crate's root whatever module the
/// struct is in: a second `#[derive(Backupable)]` in the crate fails
/// `cargo check` with an error whose name says what to do, on the second
/// struct, rather than with duplicate export symbols in the linker.
fn once_per_crate(input: &Input) -> TokenStream {
    let name = syn::Ident::new(
        "only_one_struct_per_crate_may_derive_Backupable__it_declares_every_map",
        input.original.ident.span(),
    );
    quote! {
        #[doc(hidden)]
        #[macro_export]
        macro_rules! #name { () => {} }
    }
}

/// The structures' layout, in the module: a metadata section
/// `icp:public backupable:layout` (TOML: each structure's endpoint name,
/// field, kind and memory ids), which `ic-backup` reads from the module
/// offline and through `read_state` live, to know what `<name>` is (a vec
/// takes other restores than a map) and where it lives.
fn layout_section(input: &Input, checked: &Checked) -> TokenStream {
    let mut text = String::from(
        "# The stable structures of this canister, declared with #[derive(Backupable)].\n",
    );
    text.push_str(&format!("auth_memory_id = {}\n", checked.auth.value()));
    for (map, ids) in input.maps.iter().zip(&checked.maps) {
        text.push_str(&format!(
            "\n[[structure]]\nname = \"{}\"\nfield = \"{}\"\nkind = \"{}\"\nmemory_id = {}\n",
            map.endpoint_base(),
            map.ident.to_string().trim_start_matches("r#"),
            map.kind.layout_name(),
            ids.memory.value()
        ));
        if let Some(data) = ids.data {
            text.push_str(&format!("data_memory_id = {}\n", data.value()));
        }
        if map.attrs.skip.is_some() {
            text.push_str("skip = true\n");
        }
    }
    let bytes = proc_macro2::Literal::byte_string(text.as_bytes());
    let len = text.len();
    quote! {
        #[cfg(target_family = "wasm")]
        #[link_section = "icp:public backupable:layout"]
        #[used]
        static __BACKUPABLE_LAYOUT: [u8; #len] = *#bytes;
    }
}

impl Input<'_> {
    /// `memory(MemoryId::new(id))`, through the struct's `memory = ...`
    /// function or the runtime's own manager.
    pub fn memory_for(&self, id: MemoryId) -> TokenStream {
        let p = private();
        let id = id.literal();
        match &self.attrs.memory {
            Some(function) => quote!(#function(#p::MemoryId::new(#id))),
            None => quote!(#p::memory::memory(#p::MemoryId::new(#id))),
        }
    }

    /// The memory type of the admin set: that of the first map, so that a
    /// `memory = ...` function returning its own type serves both.
    fn admin_memory_type(&self) -> TokenStream {
        match self.maps.first() {
            Some(map) => {
                let memory = map.memory;
                quote!(#memory)
            }
            None => {
                let p = private();
                quote!(#p::Memory)
            }
        }
    }
}

impl Map<'_> {
    /// `<StableBTreeMap<K, V, M>>::init(memory)` (a log's with its data
    /// memory too, a cell's with its value for a new memory), on the
    /// field's span.
    pub fn init(&self, input: &Input, ids: Ids) -> TokenStream {
        self.construct(input, ids, quote!(init))
    }

    /// `<T>::new(...)`: the structure made anew over its memory, as
    /// `init` on an empty one would.
    pub fn fresh(&self, input: &Input, ids: Ids) -> TokenStream {
        self.construct(input, ids, quote!(new))
    }

    /// `<T>::<constructor>(...)` with the arguments of the structure's
    /// kind, on the field's span.
    fn construct(&self, input: &Input, ids: Ids, constructor: TokenStream) -> TokenStream {
        let ty = &self.original.ty;
        let memory = input.memory_for(ids.memory);
        let call = match self.kind {
            Kind::Log => {
                let data = ids.data.map(|id| input.memory_for(id));
                quote!(<#ty>::#constructor(#memory, #data))
            }
            Kind::Cell => {
                let default = match &self.attrs.default {
                    Some(default) => {
                        let value = &default.value;
                        quote!(#value)
                    }
                    None => quote!(::std::default::Default::default()),
                };
                quote!(<#ty>::#constructor(#memory, #default))
            }
            _ => quote!(<#ty>::#constructor(#memory)),
        };
        respan(call, ty.span())
    }
}

fn statics(input: &Input, checked: &Checked) -> TokenStream {
    let p = private();
    let maps = input.maps.iter().zip(&checked.maps).map(|(map, &ids)| {
        let docs = map
            .original
            .attrs
            .iter()
            .filter(|attr| attr.path().is_ident("doc"));
        let vis = &map.original.vis;
        let name = map.static_name();
        let ty = &map.original.ty;
        let init = map.init(input, ids);
        quote! {
            #(#docs)*
            #vis static #name: #p::RefCell<#ty> = #p::RefCell::new(#init);
        }
    });
    let admins = admins_static();
    let admin_memory = input.admin_memory_type();
    let admin_init = input.memory_for(checked.auth);
    let auth_id = checked.auth.literal();
    quote! {
        ::std::thread_local! {
            #(#maps)*
            static #admins: #p::RefCell<#p::LazyAdminSet<#admin_memory>> =
                const { #p::RefCell::new(#p::LazyAdminSet::new(#auth_id)) };
        }

        /// The memory of the admin set.
        fn __backup_admin_memory() -> #admin_memory {
            #admin_init
        }
    }
}

/// Trait checks spanned on the user's types, so that a key that is not
/// Candid is reported on the key, not somewhere in generated code.
fn type_checks(input: &Input) -> TokenStream {
    let p = private();
    let checks = input.maps.iter().map(|map| {
        let memory = map.memory;
        let span = map.original.ty.span();
        // The Candid and KeyText bounds are met in the structure's endpoint
        // impl, once; this checks what a skipped structure needs too.
        match (map.kind, map.key, map.value, map.data_memory) {
            (Kind::Map, Some(key), Some(value), _) => {
                quote_spanned!(span=> #p::assert_map::<#key, #value, #memory>();)
            }
            (Kind::Set, Some(key), _, _) => {
                quote_spanned!(span=> #p::assert_map::<#key, (), #memory>();)
            }
            (Kind::Log, _, Some(value), Some(data)) => {
                quote_spanned!(span=> #p::assert_log::<#value, #memory, #data>();)
            }
            (Kind::MinHeap, _, Some(value), _) => {
                quote_spanned!(span=> #p::assert_heap::<#value, #memory>();)
            }
            (_, _, Some(value), _) => {
                quote_spanned!(span=> #p::assert_stored::<#value, #memory>();)
            }
            _ => TokenStream::new(),
        }
    });
    // The fields are declarations, never read at run time; reading them here
    // keeps `dead_code` quiet without an attribute the user has to write.
    let ident = &input.original.ident;
    // Constants, evaluated even by `cargo check`, on the value's tokens.
    let bounded = input
        .maps
        .iter()
        .filter(|map| matches!(map.kind, Kind::Vec | Kind::MinHeap))
        .filter_map(|map| {
            let value = map.value?;
            Some(quote_spanned!(value.span()=> const _: () = #p::assert_bounded::<#value>();))
        });
    let fields = input.maps.iter().map(|map| map.ident);
    quote! {
        #(#bounded)*
        const _: () = {
            #[allow(dead_code)]
            fn __backup_assert_types() {
                #(#checks)*
            }

            #[allow(dead_code)]
            fn __backup_declared_fields(declaration: &#ident) {
                #(let _ = &declaration.#fields;)*
            }
        };
    }
}

fn image_access(input: &Input, checked: &Checked) -> TokenStream {
    let p = private();
    let ident = &input.original.ident;
    let admins = admins_static();
    // The memories that hold a B-tree (maps, sets, the admin set), and the
    // others with the magic each must hold.
    let keyed = input
        .maps
        .iter()
        .zip(&checked.maps)
        .filter(|(map, _)| map.kind.keyed())
        .map(|(_, ids)| ids.memory.literal())
        .chain([checked.auth.literal()]);
    let others = input
        .maps
        .iter()
        .zip(&checked.maps)
        .filter(|(map, _)| !map.kind.keyed())
        .flat_map(|(map, ids)| {
            let ty = &map.original.ty;
            let value = map.value;
            let seq = quote!(<#ty as #p::seq::Seq<#value>>);
            [Some(ids.memory), ids.data]
                .into_iter()
                .flatten()
                .enumerate()
                .map(move |(at, id)| {
                    let id = id.literal();
                    quote!((#id, #seq::MAGICS[#at], #seq::WHAT))
                })
        });
    let owns_manager = input.attrs.memory.is_none();
    let reloads = input.maps.iter().zip(&checked.maps).map(|(map, &ids)| {
        let name = map.static_name();
        let init = map.init(input, ids);
        quote!(#name.with(|map| *map.borrow_mut() = #init);)
    });
    quote! {
        #[cfg(not(target_family = "wasm"))]
        #[automatically_derived]
        impl #ident {
            /// Loads a stable memory image (`stable_memory.dat`, or the
            /// `stable_memory.bin` of a snapshot) into this thread's stable
            /// memory and re-creates every map static over it, so the maps can
            /// be read and repaired natively. Fails, changing nothing, if the
            /// file is not a `MemoryManager` image or a map's memory holds
            /// something other than a `StableBTreeMap`.
            pub fn open_image(
                path: impl ::std::convert::AsRef<::std::path::Path>,
            ) -> #p::Result<#p::image::Layout, #p::image::ImageError> {
                let layout = #p::image::open_image(path.as_ref(), &[#(#keyed),*], &[#(#others),*], #owns_manager)?;
                Self::reload();
                #p::Result::Ok(layout)
            }

            /// Writes this thread's stable memory to `path` as an image.
            pub fn save_image(
                path: impl ::std::convert::AsRef<::std::path::Path>,
            ) -> #p::Result<(), #p::image::ImageError> {
                #p::image::save_image(path.as_ref())
            }

            /// Re-creates every map static over the current stable memory.
            pub fn reload() {
                #(#reloads)*
                #admins.with(|admins| admins.borrow_mut().reset());
            }
        }
    }
}

#[cfg(test)]
mod tests;

//! From the checked input to the generated items: statics, type checks and
//! native image access here; endpoints and guards in `endpoints`.

use crate::ast::{Input, Map};
use crate::ctxt::Ctxt;
use proc_macro2::{Group, Literal, Span, TokenStream, TokenTree};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::DeriveInput;

pub fn derive(input: &DeriveInput) -> Result<TokenStream, Vec<syn::Error>> {
    let cx = Ctxt::new();
    let parsed = Input::from_syn(&cx, input);
    if let Some(parsed) = &parsed {
        parsed.validate(&cx);
    }
    cx.check()?;
    // `from_syn` returns `None` only after recording an error, so `check` has
    // already returned; an empty expansion is the harmless answer otherwise.
    Ok(parsed.map(|input| expand(&input)).unwrap_or_default())
}

/// `::backup_runtime::__private`, the only path generated code names
/// besides `::std` and what ic-cdk's macros name themselves.
pub fn private() -> TokenStream {
    quote!(::backup_runtime::__private)
}

/// The name of the static that holds the admin set.
pub fn admins_static() -> syn::Ident {
    syn::Ident::new("__BACKUP_ADMINS", proc_macro2::Span::call_site())
}

fn expand(input: &Input) -> TokenStream {
    let statics = statics(input);
    let type_checks = type_checks(input);
    let endpoints = crate::endpoints::expand(input);
    let image = image_access(input);
    quote! {
        #statics
        #type_checks
        #endpoints
        #image
    }
}

impl Input<'_> {
    /// `memory(MemoryId::new(id))`, through the struct's `memory = ...`
    /// function or the runtime's own manager.
    pub fn memory_for(&self, id: u64) -> TokenStream {
        let p = private();
        let id = Literal::u8_unsuffixed(id as u8);
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
    pub fn memory_id(&self) -> u64 {
        self.attrs.memory_id.as_ref().map_or(0, |id| id.value)
    }

    fn init(&self, input: &Input) -> TokenStream {
        let ty = &self.original.ty;
        let memory = input.memory_for(self.memory_id());
        quote!(<#ty>::init(#memory))
    }
}

/// Gives every token of `tokens` the user's `span`. Code generated for a map
/// is placed on the map's field, so that a missing trait on the user's type
/// is reported there, where the mistake is; with the derive's own span,
/// rustc would point every such error at `#[derive(Backupable)]`. (Only the
/// location would not do: rustc moves errors in a proc macro's output to the
/// macro call.) Names still resolve as at the derive, which is the same
/// module.
pub fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|token| match token {
            TokenTree::Group(group) => {
                let mut moved = Group::new(group.delimiter(), respan(group.stream(), span));
                moved.set_span(span);
                TokenTree::Group(moved)
            }
            mut other => {
                other.set_span(span);
                other
            }
        })
        .collect()
}

fn statics(input: &Input) -> TokenStream {
    let p = private();
    let maps = input.maps.iter().map(|map| {
        let docs = map
            .original
            .attrs
            .iter()
            .filter(|attr| attr.path().is_ident("doc"));
        let vis = &map.original.vis;
        let name = map.static_name();
        let ty = &map.original.ty;
        let init = respan(map.init(input), ty.span());
        quote! {
            #(#docs)*
            #vis static #name: #p::RefCell<#ty> = #p::RefCell::new(#init);
        }
    });
    let admins = admins_static();
    let admin_memory = input.admin_memory_type();
    let admin_init = input.memory_for(input.auth_memory_id());
    quote! {
        ::std::thread_local! {
            #(#maps)*
            static #admins: #p::RefCell<#p::AdminSet<#admin_memory>> =
                #p::RefCell::new(#p::StableBTreeMap::init(#admin_init));
        }
    }
}

/// Trait checks spanned on the user's types, so that a key that is not
/// Candid is reported on the key, not somewhere in generated code.
fn type_checks(input: &Input) -> TokenStream {
    let p = private();
    let checks = input.maps.iter().map(|map| {
        let (key, value, memory) = (map.key, map.value, map.memory);
        let storable =
            quote_spanned!(map.original.ty.span()=> #p::assert_map::<#key, #value, #memory>(););
        if map.attrs.skip.is_some() {
            return storable;
        }
        let value_check = quote_spanned!(value.span()=> #p::assert_candid::<#value>(););
        let key_check = if map.attrs.text_key.is_some() {
            quote_spanned!(key.span()=> #p::assert_key_text::<#key>();)
        } else {
            quote_spanned!(key.span()=> #p::assert_candid::<#key>();)
        };
        quote!(#storable #key_check #value_check)
    });
    // The fields are declarations, never read at run time; reading them here
    // keeps `dead_code` quiet without an attribute the user has to write.
    let ident = &input.original.ident;
    let fields = input.maps.iter().map(|map| map.ident);
    quote! {
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

fn image_access(input: &Input) -> TokenStream {
    let p = private();
    let ident = &input.original.ident;
    let admins = admins_static();
    let mut ids: Vec<Literal> = input
        .maps
        .iter()
        .map(|map| Literal::u8_unsuffixed(map.memory_id() as u8))
        .collect();
    ids.push(Literal::u8_unsuffixed(input.auth_memory_id() as u8));
    let owns_manager = input.attrs.memory.is_none();
    let reloads = input.maps.iter().map(|map| {
        let name = map.static_name();
        let init = respan(map.init(input), map.original.ty.span());
        quote!(#name.with(|map| *map.borrow_mut() = #init);)
    });
    let admin_init = input.memory_for(input.auth_memory_id());
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
                let layout = #p::image::open_image(path.as_ref(), &[#(#ids),*], #owns_manager)?;
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
                #admins.with(|admins| *admins.borrow_mut() = #p::StableBTreeMap::init(#admin_init));
            }
        }
    }
}

//! The canister methods: four per map, the guards, the admin and raw ones.
//!
//! Each is a thin `#[ic_cdk::query]` / `#[ic_cdk::update]` function over the
//! runtime's logic. Page endpoints reply with the bytes the runtime encoded
//! (`manual_reply`), so their Candid type still comes from the signature.

use crate::ast::{Input, Kind as Collection, Map};
use crate::names::{admins_static, Guard, Kind, MapMethod, Method};
use crate::tokens::{private, respan, PRIVATE_PATH};
use crate::valid::{Checked, Ids, MemoryId};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::spanned::Spanned;
use syn::Ident;

impl Method {
    /// `#[ic_cdk::query(name = "...", guard = "...", crate = "...")]`, and
    /// next to it an item named as ic-cdk names the export of an author's
    /// `#[query] fn <candid name>`: a method of the author's with the same
    /// Candid name then fails `cargo check` with "the name
    /// `__canister_method_<candid name>` is defined multiple times", instead
    /// of clashing in the linker.
    fn attribute(&self) -> TokenStream {
        let p = private();
        let kind = match self.kind {
            Kind::Query => format_ident!("query"),
            Kind::Update => format_ident!("update"),
        };
        let guard = match self.guard {
            Guard::Admin => "is_authorized",
            Guard::Raw => "is_stable_authorized",
        };
        let name = &self.candid;
        let cdk = format!("{PRIVATE_PATH}::ic_cdk");
        let reply = self.manual_reply.then(|| quote!(, manual_reply = true));
        // ic-cdk would declare a `decode_with` argument as `blob`: the
        // method is hidden from its interface and declared by `interface`.
        let decode = self
            .decode_with
            .as_ref()
            .map(|decode| quote!(, decode_with = #decode, hidden = true));
        quote!(#[#p::ic_cdk::#kind(name = #name, guard = #guard, crate = #cdk #reply #decode)])
    }

    fn marker(&self) -> TokenStream {
        let marker = format_ident!("__canister_method_{}", self.candid);
        quote! {
            #[doc(hidden)]
            #[allow(dead_code, non_snake_case)]
            fn #marker() {}
        }
    }

    /// For a method read with `decode_with`: a function that declares it to
    /// `export_candid!` with `signature`, its arguments' real types (what
    /// ic-cdk generates for a method without `decode_with`).
    fn interface(&self, doc: &str, signature: TokenStream) -> TokenStream {
        let name = &self.candid;
        let kind = match self.kind {
            Kind::Query => format_ident!("query"),
            Kind::Update => format_ident!("update"),
        };
        let ident = format_ident!("__backupable_candid_{}", self.candid);
        quote! {
            #[::candid::candid_method(#kind, rename = #name)]
            #[doc = #doc]
            #[allow(unused_variables, dead_code, non_snake_case)]
            fn #ident #signature {
                ::std::panic!("candid dummy function called")
            }
        }
    }

    /// The method: `doc`, the ic-cdk attribute, and `rest` (the signature
    /// and body after the name).
    fn define(&self, doc: &str, rest: TokenStream) -> TokenStream {
        let attribute = self.attribute();
        let marker = self.marker();
        let ident = self.ident();
        quote! {
            #[doc = #doc]
            #attribute
            fn #ident #rest
            #marker
        }
    }
}

pub fn expand(input: &Input, checked: &Checked) -> TokenStream {
    let maps = input
        .maps
        .iter()
        .zip(&checked.maps)
        .filter(|(map, _)| map.attrs.skip.is_none())
        .map(|(map, &ids)| match map.kind {
            Collection::Map | Collection::Set => map_endpoints(map, ids.memory, input),
            _ => seq_endpoints(map, ids, input),
        });
    let guards = guards();
    let admin = admin_endpoints();
    let raw = raw_endpoints();
    quote! {
        #guards
        #(#maps)*
        #admin
        #raw
    }
}

/// The marker type the derive implements `BackupMap` for, one per map.
fn map_marker(map: &Map) -> Ident {
    format_ident!("__BackupableMap_{}", map.static_name())
}

/// The `BackupMap` impl of a map: where its key and value types meet their
/// bounds, once; its endpoints name only the marker, so a type that misses a
/// bound is reported here, on the user's types, and nowhere else.
fn map_impl(map: &Map, id: MemoryId, input: &Input) -> TokenStream {
    let p = private();
    let memory_expr = input.memory_for(id);
    let memory_id = id.literal();
    let runtime_manager = input.attrs.memory.is_none();
    let marker = map_marker(map);
    let name = map.static_name();
    let memory = map.memory;
    // Only a map or a set comes here, and both have a key.
    let Some(key) = map.key else {
        return TokenStream::new();
    };
    // A set is a map of `()` values in its memory, which is what
    // ic-stable-structures' set is.
    let value = match map.value {
        Some(value) => quote!(#value),
        None => quote!(()),
    };
    let with = match map.kind {
        Collection::Set => {
            let ty = &map.original.ty;
            quote! {
                // The set's memory opened as the map it is; the set's static
                // then reads its root and length again (a restore or a
                // clear wrote them).
                let map = #p::RefCell::new(#p::StableBTreeMap::<Self::Key, (), Self::Memory>::init(Self::memory()));
                let result = f(&map);
                #name.with(|set| *set.borrow_mut() = <#ty>::init(Self::memory()));
                result
            }
        }
        _ => quote!(#name.with(f)),
    };
    let (wire, codec) = if map.attrs.text_key.is_some() {
        (quote!(#p::String), quote!(#p::TextKey))
    } else {
        (quote!(#key), quote!(#p::CandidKey))
    };
    // On the key's tokens, so that a key without `KeyText` is reported there.
    let codec = respan(quote!(type Codec = #codec;), key.span());
    quote! {
        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        struct #marker;

        #[automatically_derived]
        impl #p::endpoint::BackupMap for #marker {
            type Key = #key;
            type Value = #value;
            type Memory = #memory;
            type Wire = #wire;
            #codec
            const MEMORY_ID: u8 = #memory_id;
            const RUNTIME_MANAGER: bool = #runtime_manager;

            fn memory() -> Self::Memory {
                #memory_expr
            }

            fn with<R>(
                f: impl ::std::ops::FnOnce(&#p::RefCell<#p::StableBTreeMap<Self::Key, Self::Value, Self::Memory>>) -> R,
            ) -> R {
                #with
            }

            // Pages from the stored bytes when the value is `CandidBytes`.
            fn cursor_page(
                span: #p::endpoint::Span<Self>,
                limits: #p::PageLimits,
                instructions: &dyn ::std::ops::Fn() -> u64,
            ) -> #p::Result<#p::Vec<u8>, #p::page::PageError> {
                #[allow(unused_imports)]
                use #p::endpoint::{ViaDecoding as _, ViaStoredBytes as _};
                (&#p::endpoint::Probe::<Self>::new()).cursor_page(span, limits, instructions)
            }

            // Restore batches to the stored bytes when the value is `CandidBytes`.
            fn decode_batch(arg: &[u8]) -> #p::Result<#p::endpoint::Batch<Self>, #p::String> {
                #[allow(unused_imports)]
                use #p::endpoint::{ViaDecoding as _, ViaStoredBytes as _};
                (&#p::endpoint::Probe::<Self>::new()).decode_batch(arg)
            }
        }
    }
}

/// `memory_expr` opens the map's memory.
fn map_endpoints(map: &Map, id: MemoryId, input: &Input) -> TokenStream {
    let p = private();
    let m = map_marker(map);
    let e = quote!(#p::endpoint);
    let base = map.endpoint_base();
    let field = map.ident.to_string();
    let backup = MapMethod::Backup.of(&base).define(
        &format!(" Backup of `{field}`: up to `count` entries from position `offset`, fewer when the reply would pass 1.5 MiB; empty past the end."),
        quote!((offset: u64, count: u64) -> #e::Entries<#m> { #e::backup::<#m>(offset, count) }),
    );
    let backup_page = MapMethod::BackupPage.of(&base).define(
        &format!(" Backup of `{field}`: the entries after the key `after` (from the start if null) up to and including the key `until` (to the end if null), at most `max_bytes` of them (default 1.5 MiB); `next` is the cursor for the following page, null past `until` or at the end; `len` is the map's size; `skipped` names entries too large for one restore call."),
        quote!((after: #e::Cursor<#m>, max_bytes: ::std::option::Option<u64>, until: #e::Cursor<#m>) -> #e::Page<#m> { #e::backup_page::<#m>(after, max_bytes, until) }),
    );
    let backup_splits = MapMethod::BackupSplits.of(&base).define(
        &format!(" Where a parallel backup of `{field}` may cut it: the keys after `after` that end each of `parts` spans of equal length (1 to 4096), for `backup_{base}_page`'s `until`; `next`, when not null, is where to ask again, with the reply's `walked` (keys of the span in progress already passed; null or 0 from a cut)."),
        quote!((after: #e::Cursor<#m>, parts: u64, walked: ::std::option::Option<u64>) -> #e::SplitKeys<#m> { #e::backup_splits::<#m>(after, parts, walked) }),
    );
    // Both read their batch through the runtime, which takes the values'
    // bytes from the message as they are when the value is `CandidBytes`.
    let batch = |method: MapMethod| Method {
        decode_with: Some(format!("{PRIVATE_PATH}::endpoint::decode_batch::<{m}>")),
        ..method.of(&base)
    };
    let signature = quote!((entries: #e::Batch<#m>) -> #p::Result<u64, #p::String>);
    let (restore, validate) = (batch(MapMethod::Restore), batch(MapMethod::Validate));
    let doc = format!(" Restore into `{field}`: inserts every entry, overwriting equal keys, or none if any is invalid.");
    let restore = [
        restore.define(&doc, quote!(#signature { #e::restore::<#m>(entries) })),
        restore.interface(&doc, signature.clone()),
    ];
    let doc = format!(" Every check of `restore_{base}` on these entries, writing nothing: `Ok` with the number `restore_{base}` would insert, or the error it would give.");
    let validate = [
        validate.define(&doc, quote!(#signature { #e::validate::<#m>(entries) })),
        validate.interface(&doc, signature),
    ];
    let clear = MapMethod::Clear.of(&base).define(
        &format!(" Empties `{field}`, for an exact restore; returns how many entries it held."),
        quote!(() -> u64 { #e::clear::<#m>() }),
    );
    let implementation = map_impl(map, id, input);
    quote! {
        #implementation
        #backup
        #backup_page
        #backup_splits
        #(#restore)*
        #(#validate)*
        #clear
    }
}

/// The `BackupSeq` impl of a vec, log, heap or cell, on its marker type:
/// where its value type meets its bounds, once.
fn seq_impl(map: &Map, ids: Ids, input: &Input) -> TokenStream {
    let p = private();
    let marker = map_marker(map);
    let name = map.static_name();
    let ty = &map.original.ty;
    let Some(value) = map.value else {
        return TokenStream::new();
    };
    let memories: Vec<(proc_macro2::Literal, TokenStream)> = [Some(ids.memory), ids.data]
        .into_iter()
        .flatten()
        .map(|id| (id.literal(), input.memory_for(id)))
        .collect();
    let runtime_manager = input.attrs.memory.is_none();
    let seq = quote!(<#ty as #p::seq::Seq<#value>>);
    let checks = memories.iter().enumerate().map(|(at, (id, memory))| {
        quote!(#p::endpoint::check_holds(#id, || #memory, #runtime_manager, &#seq::MAGICS[#at], #seq::WHAT)?;)
    });
    let sizes = memories
        .iter()
        .map(|(_, memory)| quote!(#p::MemoryTrait::size(&#memory) == 0));
    let fresh = map.fresh(input, ids);
    quote! {
        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        struct #marker;

        #[automatically_derived]
        impl #p::seq::BackupSeq for #marker {
            type Value = #value;
            type Structure = #ty;

            fn untouched() -> bool {
                #p::MemoryTrait::size(&#p::memory::stable_memory()) == 0 || (#(#sizes)&&*)
            }

            fn check_memory() -> #p::Result<(), #p::String> {
                #(#checks)*
                #p::Result::Ok(())
            }

            fn with<R>(f: impl ::std::ops::FnOnce(&#p::RefCell<Self::Structure>) -> R) -> R {
                #name.with(f)
            }

            fn empty() -> Self::Structure {
                #fresh
            }
        }
    }
}

/// The endpoints of a vec, log, heap or cell: a map's, from index to value.
fn seq_endpoints(map: &Map, ids: Ids, input: &Input) -> TokenStream {
    let p = private();
    let m = map_marker(map);
    let e = quote!(#p::seq);
    let base = map.endpoint_base();
    let field = map.ident.to_string();
    let what = map.kind.type_name();
    let backup = MapMethod::Backup.of(&base).define(
        &format!(" Backup of `{field}` (a {what}): up to `count` entries, from index `offset`, fewer when the reply would pass 1.5 MiB; empty past the end."),
        quote!((offset: u64, count: u64) -> #e::Entries<#m> { #e::backup::<#m>(offset, count) }),
    );
    let backup_page = MapMethod::BackupPage.of(&base).define(
        &format!(" Backup of `{field}` (a {what}): the entries after index `after` (from the start if null) up to and including index `until` (to the end if null), at most `max_bytes` of them (default 1.5 MiB); `next` is the cursor for the following page, null past `until` or at the end; `len` is its length; `skipped` names entries too large for one restore call."),
        quote!((after: ::std::option::Option<u64>, max_bytes: ::std::option::Option<u64>, until: ::std::option::Option<u64>) -> #e::Page<#m> { #e::backup_page::<#m>(after, max_bytes, until) }),
    );
    let backup_splits = MapMethod::BackupSplits.of(&base).define(
        &format!(" Where a parallel backup of `{field}` may cut it: the indices after `after` that end each of `parts` spans of equal length (1 to 4096), for `backup_{base}_page`'s `until`."),
        quote!((after: ::std::option::Option<u64>, parts: u64, walked: ::std::option::Option<u64>) -> #e::SplitKeys<#m> { #e::backup_splits::<#m>(after, parts, walked) }),
    );
    let batch = |method: MapMethod| Method {
        decode_with: Some(format!("{PRIVATE_PATH}::seq::read_batch::<{m}>")),
        ..method.of(&base)
    };
    let signature = quote!((entries: #e::Batch<#m>) -> #p::Result<u64, #p::String>);
    let (restore, validate) = (batch(MapMethod::Restore), batch(MapMethod::Validate));
    let rule = match map.kind {
        Collection::Vec => "sets the value at each index below its length and appends at its length",
        Collection::Cell => "sets its value (index 0)",
        _ => "appends at its length; an index below it must carry the value already there (a heap's value must also keep its place)",
    };
    let doc = format!(" Restore into `{field}` (a {what}): {rule}; every entry is checked first, and none is written if any is refused. Returns the entries taken.");
    let restore = [
        restore.define(&doc, quote!(#signature { #e::restore::<#m>(entries) })),
        restore.interface(&doc, signature.clone()),
    ];
    let doc = format!(" Every check of `restore_{base}` that this batch alone decides, writing nothing: `Ok` with the number of entries, or the error `restore_{base}` would give.");
    let validate = [
        validate.define(&doc, quote!(#signature { #e::validate::<#m>(entries) })),
        validate.interface(&doc, signature),
    ];
    let cleared = if map.kind == Collection::Cell {
        "Sets `{field}` back to its initial value"
    } else {
        "Empties `{field}`"
    }
    .replace("{field}", &field);
    let clear = MapMethod::Clear.of(&base).define(
        &format!(" {cleared}, for an exact restore; returns how many entries it held."),
        quote!(() -> u64 { #e::clear::<#m>() }),
    );
    let implementation = seq_impl(map, ids, input);
    quote! {
        #implementation
        #backup
        #backup_page
        #backup_splits
        #(#restore)*
        #(#validate)*
        #clear
    }
}

fn guards() -> TokenStream {
    let p = private();
    let admins = admins_static();
    quote! {
        /// Guard of the backup, restore and admin endpoints: passes for the
        /// canister's controllers and for principals added with `authorize`
        /// (kept in stable memory). Use it on your own methods with
        /// `#[ic_cdk::query(guard = "is_authorized")]`.
        pub fn is_authorized() -> #p::Result<(), #p::String> {
            let (caller, controller) = #p::caller();
            #admins
                .with(|admins| {
                    #p::auth::admin_guard(&caller, controller, &mut admins.borrow_mut(), __backup_admin_memory)
                })
                .map_err(|error| error.to_string())
        }

        /// Guard of the raw stable memory endpoints: passes for the
        /// canister's controllers and for principals added with
        /// `stable_authorize` since the last upgrade (kept on the heap).
        pub fn is_stable_authorized() -> #p::Result<(), #p::String> {
            let (caller, controller) = #p::caller();
            #p::auth::with_raw_access(|raw| #p::auth::check_raw(&caller, controller, raw))
                .map_err(|error| error.to_string())
        }
    }
}

fn admin_endpoints() -> TokenStream {
    let p = private();
    let admins = admins_static();
    let fresh = quote!(#p::endpoint::fresh(););
    let authorize = Method::new("authorize", Kind::Update, Guard::Admin).define(
        " Adds a principal to the admin set (stable memory); admins may back up and restore.",
        quote! {
            (principal: #p::Principal) {
                #fresh
                #p::or_trap(#admins.with(|admins| {
                    let mut admins = admins.borrow_mut();
                    #p::auth::authorize(admins.get_or_create(__backup_admin_memory)?, principal)
                }));
            }
        },
    );
    let deauthorize = Method::new("deauthorize", Kind::Update, Guard::Admin).define(
        " Removes a principal from the admin set; controllers keep access.",
        quote! {
            (principal: #p::Principal) {
                #fresh
                #p::or_trap(#admins.with(|admins| {
                    if let ::std::option::Option::Some(set) = admins.borrow_mut().get(__backup_admin_memory)? {
                        #p::auth::deauthorize(set, &principal);
                    }
                    #p::Result::<(), #p::auth::AccessError>::Ok(())
                }));
            }
        },
    );
    let list = Method::new("list_authorized", Kind::Query, Guard::Admin).define(
        " The admin set; controllers are not listed but always have access.",
        quote! {
            () -> #p::Vec<#p::Principal> {
                #fresh
                let set = #admins.with(|admins| {
                    admins.borrow_mut().get(__backup_admin_memory).map(|set| set.map(|set| #p::auth::list(set)).unwrap_or_default())
                });
                #p::or_trap(set)
            }
        },
    );
    let stable_authorize = Method::new("stable_authorize", Kind::Update, Guard::Raw).define(
        " Grants raw stable memory access until the next upgrade.",
        quote! {
            (principal: #p::Principal) {
                #p::or_trap(#p::auth::with_raw_access(|raw| #p::auth::stable_authorize(raw, principal)));
            }
        },
    );
    let stable_deauthorize = Method::new("stable_deauthorize", Kind::Update, Guard::Raw).define(
        " Revokes raw stable memory access.",
        quote! {
            (principal: #p::Principal) {
                #p::auth::with_raw_access(|raw| #p::auth::stable_deauthorize(raw, &principal));
            }
        },
    );
    quote! {
        #authorize
        #deauthorize
        #list
        #stable_authorize
        #stable_deauthorize
    }
}

fn raw_endpoints() -> TokenStream {
    let p = private();
    let size = Method::new("stable_size", Kind::Query, Guard::Raw).define(
        " Size of stable memory in bytes.",
        quote! {
            () -> u64 {
                #p::raw::stable_size(&#p::memory::stable_memory())
            }
        },
    );
    let read = Method::new("stable_read", Kind::Query, Guard::Raw).define(
        " Reads `length` bytes of stable memory at `offset` (at most 1.9375 MiB).",
        quote! {
            (offset: u64, length: u64) -> #p::ByteBuf {
                let bytes = #p::raw::stable_read(&#p::memory::stable_memory(), offset, length);
                #p::ByteBuf::from(#p::or_trap(bytes))
            }
        },
    );
    let write = Method::new("stable_write", Kind::Update, Guard::Raw).define(
        " Writes bytes at `offset` (at most the current end of stable memory), growing it as needed. The typed endpoints refuse afterwards until the canister is upgraded, so that its heap reads the new memory.",
        quote! {
            (offset: u64, data: #p::ByteBuf) {
                #p::or_trap(#p::raw::stable_write(&#p::memory::stable_memory(), offset, &data));
            }
        },
    );
    let digest = Method::new("stable_digest", Kind::Query, Guard::Raw).define(
        " SHA-256 of each `block_size` block of `length` bytes from `offset` (at most 16 MiB, blocks of at least 4 KiB). Call it as an update for a certified answer.",
        quote! {
            (offset: u64, length: u64, block_size: u64) -> #p::Vec<#p::ByteBuf> {
                let digests = #p::raw::stable_digest(&#p::memory::stable_memory(), offset, length, block_size);
                #p::or_trap(digests).into_iter().map(|digest| #p::ByteBuf::from(digest.to_vec())).collect()
            }
        },
    );
    quote! {
        #size
        #read
        #write
        #digest
    }
}

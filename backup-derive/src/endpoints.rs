//! The canister methods: four per map, the guards, the admin and raw ones.
//!
//! Each is a thin `#[ic_cdk::query]` / `#[ic_cdk::update]` function over the
//! runtime's logic. Page endpoints reply with the bytes the runtime encoded
//! (`manual_reply`), so their Candid type still comes from the signature.

use crate::ast::{Input, Map};
use crate::expand::{admins_static, private, respan};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::spanned::Spanned;

const CDK_PATH: &str = "::backup_runtime::__private::ic_cdk";

fn method(kind: &str, guard: &str, manual_reply: bool) -> TokenStream {
    let p = private();
    let kind = format_ident!("{kind}");
    if manual_reply {
        quote!(#[#p::ic_cdk::#kind(guard = #guard, crate = #CDK_PATH, manual_reply = true)])
    } else {
        quote!(#[#p::ic_cdk::#kind(guard = #guard, crate = #CDK_PATH)])
    }
}

pub fn expand(input: &Input) -> TokenStream {
    let maps = input
        .maps
        .iter()
        .filter(|map| map.attrs.skip.is_none())
        .map(|map| respan(map_endpoints(map), map.original.ty.span()));
    let auth_id = proc_macro2::Literal::u8_unsuffixed(input.auth_memory_id() as u8);
    let guards = guards(&auth_id);
    let admin = admin_endpoints(&auth_id);
    let raw = raw_endpoints();
    quote! {
        #guards
        #(#maps)*
        #admin
        #raw
    }
}

fn map_endpoints(map: &Map) -> TokenStream {
    let p = private();
    let name = map.static_name();
    let value = map.value;
    let (wire, codec) = if map.attrs.text_key.is_some() {
        (quote!(#p::String), quote!(#p::TextKey))
    } else {
        let key = map.key;
        (quote!(#key), quote!(#p::CandidKey))
    };
    let base = map.endpoint_base();
    let backup = format_ident!("backup_{}", base);
    let backup_page = format_ident!("backup_{}_page", base);
    let restore = format_ident!("restore_{}", base);
    let validate = format_ident!("validate_{}", base);
    let clear = format_ident!("clear_{}", base);
    let key = map.key;
    let field = map.ident.to_string();
    let backup_doc = format!(" Backup of `{field}`: up to `count` entries from position `offset`, fewer when the reply would pass 1.5 MiB; empty past the end.");
    let page_doc = format!(" Backup of `{field}`: the entries after the key `after` (from the start if null), up to `max_bytes` (default 1.5 MiB); `next` is the cursor for the following page, null at the end; `len` is the map's size.");
    let restore_doc = format!(" Restore into `{field}`: inserts every entry, overwriting equal keys, or none if any is invalid.");
    let validate_doc = format!(" Every check of `restore_{base}` on these entries, writing nothing: `Ok` with the number `restore_{base}` would insert, or the error it would give.");
    let clear_doc =
        format!(" Empties `{field}`, for an exact restore; returns how many entries it held.");
    let query_reply = method("query", "is_authorized", true);
    let query = method("query", "is_authorized", false);
    let update = method("update", "is_authorized", false);
    quote! {
        #[doc = #backup_doc]
        #query_reply
        fn #backup(offset: u64, count: u64) -> #p::Vec<(#wire, #value)> {
            #p::or_trap(#p::raw::check_heap_fresh());
            let reply = #name.with(|map| {
                #p::page::encode_offset_page::<_, _, _, #codec>(
                    &map.borrow(), offset, count, #p::PageLimits::default(), &#p::instruction_counter,
                )
            });
            #p::ic_cdk::api::msg_reply(#p::or_trap(reply));
            #p::Vec::new()
        }

        #[doc = #page_doc]
        #query_reply
        fn #backup_page(after: ::std::option::Option<#wire>, max_bytes: ::std::option::Option<u64>) -> #p::BackupPage<#wire, #value> {
            #p::or_trap(#p::raw::check_heap_fresh());
            let reply = #p::PageLimits::with_max_bytes(max_bytes).and_then(|limits| {
                #name.with(|map| {
                    #p::page::encode_cursor_page::<_, _, _, #codec>(
                        &map.borrow(), after, limits, &#p::instruction_counter,
                    )
                })
            });
            #p::ic_cdk::api::msg_reply(#p::or_trap(reply));
            #p::BackupPage { entries: #p::Vec::new(), next: ::std::option::Option::None, len: 0, skipped: #p::Vec::new() }
        }

        #[doc = #restore_doc]
        #update
        fn #restore(entries: #p::Vec<(#wire, #value)>) -> #p::Result<u64, #p::String> {
            #p::or_trap(#p::raw::check_heap_fresh());
            #p::restore::check::<#key, #value, #codec>(entries)
                .map(|checked| #name.with(|map| #p::restore::insert_all(&mut map.borrow_mut(), checked)))
                .map_err(|error| error.to_string())
        }

        #[doc = #validate_doc]
        #query
        fn #validate(entries: #p::Vec<(#wire, #value)>) -> #p::Result<u64, #p::String> {
            #p::or_trap(#p::raw::check_heap_fresh());
            #p::restore::validate::<#key, #value, #codec>(entries).map_err(|error| error.to_string())
        }

        #[doc = #clear_doc]
        #update
        fn #clear() -> u64 {
            #p::or_trap(#p::raw::check_heap_fresh());
            #name.with(|map| #p::restore::clear(&mut map.borrow_mut()))
        }
    }
}

fn guards(auth_id: &proc_macro2::Literal) -> TokenStream {
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
                    #p::auth::admin_guard(&caller, controller, &mut admins.borrow_mut(), #auth_id, __backup_admin_memory)
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

fn admin_endpoints(auth_id: &proc_macro2::Literal) -> TokenStream {
    let p = private();
    let admins = admins_static();
    let admin_update = method("update", "is_authorized", false);
    let admin_query = method("query", "is_authorized", false);
    let raw_update = method("update", "is_stable_authorized", false);
    quote! {
        #[doc = " Adds a principal to the admin set (stable memory); admins may back up and restore."]
        #admin_update
        fn authorize(principal: #p::Principal) {
            #p::or_trap(#p::raw::check_heap_fresh());
            #p::or_trap(#admins.with(|admins| {
                let mut admins = admins.borrow_mut();
                #p::auth::authorize(admins.get_or_create(#auth_id, __backup_admin_memory)?, principal)
            }));
        }

        #[doc = " Removes a principal from the admin set; controllers keep access."]
        #admin_update
        fn deauthorize(principal: #p::Principal) {
            #p::or_trap(#p::raw::check_heap_fresh());
            #p::or_trap(#admins.with(|admins| {
                if let ::std::option::Option::Some(set) = admins.borrow_mut().get(#auth_id, __backup_admin_memory)? {
                    #p::auth::deauthorize(set, &principal);
                }
                #p::Result::<(), #p::auth::AccessError>::Ok(())
            }));
        }

        #[doc = " The admin set; controllers are not listed but always have access."]
        #admin_query
        fn list_authorized() -> #p::Vec<#p::Principal> {
            #p::or_trap(#p::raw::check_heap_fresh());
            let set = #admins.with(|admins| {
                admins.borrow_mut().get(#auth_id, __backup_admin_memory).map(|set| set.map(|set| #p::auth::list(set)).unwrap_or_default())
            });
            #p::or_trap(set)
        }

        #[doc = " Grants raw stable memory access until the next upgrade."]
        #raw_update
        fn stable_authorize(principal: #p::Principal) {
            #p::or_trap(#p::auth::with_raw_access(|raw| #p::auth::stable_authorize(raw, principal)));
        }

        #[doc = " Revokes raw stable memory access."]
        #raw_update
        fn stable_deauthorize(principal: #p::Principal) {
            #p::auth::with_raw_access(|raw| #p::auth::stable_deauthorize(raw, &principal));
        }
    }
}

fn raw_endpoints() -> TokenStream {
    let p = private();
    let raw_query = method("query", "is_stable_authorized", false);
    let raw_update = method("update", "is_stable_authorized", false);
    quote! {
        #[doc = " Size of stable memory in bytes."]
        #raw_query
        fn stable_size() -> u64 {
            #p::raw::stable_size(&#p::memory::stable_memory())
        }

        #[doc = " Reads `length` bytes of stable memory at `offset` (at most 1.9375 MiB)."]
        #raw_query
        fn stable_read(offset: u64, length: u64) -> #p::ByteBuf {
            let bytes = #p::raw::stable_read(&#p::memory::stable_memory(), offset, length);
            #p::ByteBuf::from(#p::or_trap(bytes))
        }

        #[doc = " Writes bytes at `offset` (at most the current end of stable memory), growing it as needed. The typed endpoints refuse afterwards until the canister is upgraded, so that its heap reads the new memory."]
        #raw_update
        fn stable_write(offset: u64, data: #p::ByteBuf) {
            #p::or_trap(#p::raw::stable_write(&#p::memory::stable_memory(), offset, &data));
        }

        #[doc = " SHA-256 of each `block_size` block of `length` bytes from `offset` (at most 16 MiB, blocks of at least 4 KiB). Call it as an update for a certified answer."]
        #raw_query
        fn stable_digest(offset: u64, length: u64, block_size: u64) -> #p::Vec<#p::ByteBuf> {
            let digests = #p::raw::stable_digest(&#p::memory::stable_memory(), offset, length, block_size);
            #p::or_trap(digests).into_iter().map(|digest| #p::ByteBuf::from(digest.to_vec())).collect()
        }
    }
}

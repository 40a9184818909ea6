//! Token helpers of the expansion: the runtime's private path, and spans
//! moved onto the user's tokens.

use proc_macro2::{Group, Span, TokenStream, TokenTree};
use quote::quote;

/// `::backup_runtime::__private`, the only path generated code names
/// besides `::std` and what ic-cdk's macros name themselves. ic-cdk takes it
/// as a string (`crate = "..."`), the rest of the expansion as tokens.
pub const PRIVATE_PATH: &str = "::backup_runtime::__private";

pub fn private() -> TokenStream {
    let segments = PRIVATE_PATH
        .trim_start_matches("::")
        .split("::")
        .map(|segment| syn::Ident::new(segment, Span::call_site()));
    quote!(#(::#segments)*)
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

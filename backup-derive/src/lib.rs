#![doc = include_str!("../README.md")]

mod ast;
mod attr;
mod ctxt;
mod endpoints;
mod expand;
mod names;
mod tokens;
mod valid;

use proc_macro::TokenStream;

/// Declares a canister's stable maps and generates their statics, backup and
/// restore endpoints, guards and raw stable memory endpoints. See the
/// `backup-runtime` crate for the full description.
#[proc_macro_derive(Backupable, attributes(backup))]
pub fn derive_backupable(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    match expand::derive(&input) {
        Ok(expansion) => expansion.into(),
        // The errors, and the items the rest of the crate names, so that
        // each mistake is reported once, without follow-on errors.
        Err(errors) => {
            let mut output = ctxt::to_compile_errors(errors);
            output.extend(expand::stub(&input));
            output.into()
        }
    }
}

//! `call`: any method, with Candid text arguments.

use crate::error::{Error, Result};
use crate::interface::Interface;
use crate::target::Target;
use candid::types::FuncMode;
use candid::IDLArgs;

/// The Candid bytes of `args` (Candid text) for `method`, typed by the
/// interface when there is one, and whether the method is a query.
pub fn call_request(
    interface: Option<&Interface>,
    method: &str,
    args: &str,
) -> Result<(Vec<u8>, bool)> {
    let parsed: IDLArgs = candid_parser::parse_idl_args(args).map_err(|error| {
        Error::Input(format!(
            "expected Candid text arguments such as `(42, \"text\")`, found `{args}`: {error}"
        ))
    })?;
    match interface {
        Some(interface) => {
            let signature = interface.method(method)?;
            let parsed = with_optional_tail(parsed, &signature.args, &interface.env);
            let bytes = parsed
                .to_bytes_with_types(&interface.env, &signature.args)
                .map_err(|error| {
                    Error::Input(format!(
                        "the arguments do not match `{method} : {signature}`: {error}"
                    ))
                })?;
            Ok((
                bytes,
                signature
                    .modes
                    .iter()
                    .any(|mode| matches!(mode, FuncMode::Query | FuncMode::CompositeQuery)),
            ))
        }
        None => Ok((parsed.to_bytes()?, false)),
    }
}

pub fn call(
    target: &mut dyn Target,
    interface: Option<&Interface>,
    method: &str,
    args: &str,
) -> Result<()> {
    let (arg, is_query) = call_request(interface, method, args)?;
    let reply = if is_query {
        target.query(method, &arg)?
    } else {
        target.update(method, &arg)?
    };
    let decoded = match interface {
        Some(interface) => {
            IDLArgs::from_bytes_with_types(&reply, &interface.env, &interface.method(method)?.rets)?
        }
        None => IDLArgs::from_bytes(&reply)?,
    };
    println!("{decoded}");
    Ok(())
}

/// `args` with the trailing arguments it leaves out given as `null`, when
/// each of their types takes `null` (`opt`, `null`, `reserved`): Candid's
/// subtyping lets a caller leave them out, as callers written before a
/// method gained such an argument do (`backup_<map>_page`'s `until`).
fn with_optional_tail(
    mut args: IDLArgs,
    types: &[candid::types::Type],
    env: &candid::TypeEnv,
) -> IDLArgs {
    use candid::types::{value::IDLValue, TypeInner};
    let tail: Option<Vec<IDLValue>> = types
        .get(args.args.len()..)
        .unwrap_or_default()
        .iter()
        .map(|ty| match env.trace_type(ty).ok()?.as_ref() {
            TypeInner::Opt(_) => Some(IDLValue::None),
            TypeInner::Null => Some(IDLValue::Null),
            TypeInner::Reserved => Some(IDLValue::Reserved),
            _ => None,
        })
        .collect();
    if let Some(tail) = tail {
        args.args.extend(tail);
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;
    use candid::Principal;

    const DID: &str = r#"service : {
        profile_count : () -> (nat64) query;
        get_profile_of : (principal) -> (opt record { username : opt text }) query;
        page : (opt text, opt nat64, opt text) -> () query;
        authorize : (principal) -> ();
    }"#;

    #[test]
    fn call_requests_are_typed_by_the_interface() {
        let interface = Interface::parse(DID).unwrap();
        let (arg, query) = call_request(
            Some(&interface),
            "get_profile_of",
            "(principal \"aaaaa-aa\")",
        )
        .unwrap();
        assert!(query);
        assert_eq!(
            candid::decode_one::<Principal>(&arg).unwrap(),
            Principal::management_canister()
        );
        let (_, query) =
            call_request(Some(&interface), "authorize", "(principal \"aaaaa-aa\")").unwrap();
        assert!(!query, "an update goes through consensus");
        let error = call_request(Some(&interface), "get_profile_of", "(42)")
            .unwrap_err()
            .to_string();
        assert!(error.contains("do not match"), "{error}");
        // Trailing `opt` arguments may be left out; others may not.
        let (arg, _) = call_request(Some(&interface), "page", "(opt \"k\", null)").unwrap();
        let (after, max, until): (Option<String>, Option<u64>, Option<String>) =
            candid::decode_args(&arg).unwrap();
        assert_eq!((after.as_deref(), max, until), (Some("k"), None, None));
        let error = call_request(Some(&interface), "get_profile_of", "()")
            .unwrap_err()
            .to_string();
        assert!(error.contains("do not match"), "{error}");
        let error = call_request(Some(&interface), "nope", "()")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("no method `nope`") && error.contains("profile_count"),
            "{error}"
        );
    }
}

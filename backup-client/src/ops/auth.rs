//! `auth`: who may back up and restore (the admin set), or read and write
//! raw stable memory (the raw-access set).

use super::output;
use crate::error::{Error, Result};
use crate::target::Target;
use candid::Principal;
use serde_json::json;

/// What `auth` does.
#[derive(Clone, Debug)]
pub enum Action {
    /// Add a principal to the admin set, or (`raw`) the raw-access set.
    Add { principal: String, raw: bool },
    /// Remove a principal from the admin set, or (`raw`) the raw-access set.
    Remove { principal: String, raw: bool },
    /// List the admin set.
    List,
}

fn principal(text: &str) -> Result<Principal> {
    Principal::from_text(text)
        .map_err(|error| Error::Input(format!("expected a principal, found `{text}`: {error}")))
}

/// The method name and argument of an `auth` action.
pub fn auth_request(action: &Action) -> Result<(&'static str, Vec<u8>)> {
    Ok(match action {
        Action::Add { principal: p, raw } => (
            if *raw {
                "stable_authorize"
            } else {
                "authorize"
            },
            candid::encode_one(principal(p)?)?,
        ),
        Action::Remove { principal: p, raw } => (
            if *raw {
                "stable_deauthorize"
            } else {
                "deauthorize"
            },
            candid::encode_one(principal(p)?)?,
        ),
        Action::List => ("list_authorized", candid::encode_args(())?),
    })
}

pub fn auth(target: &mut dyn Target, action: &Action, json: bool) -> Result<()> {
    let (method, arg) = auth_request(action)?;
    match action {
        Action::List => {
            let reply = target.query(method, &arg)?;
            let admins: Vec<Principal> = candid::decode_one(&reply)
                .map_err(Error::candid(format!("the reply of `{method}`")))?;
            let texts: Vec<String> = admins.iter().map(Principal::to_text).collect();
            output(json, json!({ "admins": texts }), || {
                if texts.is_empty() {
                    "no admins (controllers always have access)".to_string()
                } else {
                    texts.join("\n")
                }
            });
        }
        Action::Add { principal, raw } | Action::Remove { principal, raw } => {
            target.update(method, &arg)?;
            let set = if *raw {
                "raw-access set (until the next upgrade)"
            } else {
                "admin set"
            };
            let verb = if matches!(action, Action::Add { .. }) {
                "added to"
            } else {
                "removed from"
            };
            output(
                json,
                json!({ "method": method, "principal": principal }),
                || format!("{principal} {verb} the {set}"),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_requests_name_the_right_method() {
        let p = "aaaaa-aa".to_string();
        let (method, arg) = auth_request(&Action::Add {
            principal: p.clone(),
            raw: true,
        })
        .unwrap();
        assert_eq!(method, "stable_authorize");
        assert_eq!(
            candid::decode_one::<Principal>(&arg).unwrap(),
            Principal::management_canister()
        );
        assert_eq!(
            auth_request(&Action::Remove {
                principal: p,
                raw: false
            })
            .unwrap()
            .0,
            "deauthorize"
        );
        assert_eq!(auth_request(&Action::List).unwrap().0, "list_authorized");
        assert!(auth_request(&Action::Add {
            principal: "nope".into(),
            raw: false
        })
        .is_err());
    }
}

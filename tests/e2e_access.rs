//! The access matrix, on the profiles canister's real wasm: every generated
//! endpoint (and the canister's own guarded methods) called by the anonymous
//! principal, a stranger, an admin, a raw-access holder and a controller.
//! Each gets exactly what DESIGN.md says, and a refusal changes nothing.

use backup_tests::*;
use candid::utils::ArgumentEncoder;
use candid::Principal;
use canister_runner::{Canister, RejectCode};
use profiles::Profile;
use serde_bytes::ByteBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Guard {
    Admin,
    Raw,
}

struct Endpoint {
    method: &'static str,
    update: bool,
    guard: Guard,
    arg: Vec<u8>,
}

fn endpoint(
    method: &'static str,
    update: bool,
    guard: Guard,
    args: impl ArgumentEncoder,
) -> Endpoint {
    Endpoint {
        method,
        update,
        guard,
        arg: candid::encode_args(args).unwrap(),
    }
}

fn profile(name: &str) -> Profile {
    Profile {
        username: Some(name.into()),
        email: Some(format!("{name}@example.org")),
        ..Profile::default()
    }
}

/// A canister with one profile, an admin and a raw-access holder.
fn setup(cast: &Cast) -> Canister {
    let mut canister = install("profiles", cast);
    update::<_, ()>(
        &mut canister,
        cast.stranger,
        "set_profile",
        (profile("stranger"),),
    )
    .unwrap();
    update::<_, ()>(&mut canister, cast.controller, "authorize", (cast.admin,)).unwrap();
    update::<_, ()>(
        &mut canister,
        cast.controller,
        "stable_authorize",
        (cast.raw,),
    )
    .unwrap();
    canister
}

fn endpoints(canister: &mut Canister, cast: &Cast) -> Vec<Endpoint> {
    use Guard::*;
    let someone = Principal::from_slice(&[9; 29]);
    // Writing back the bytes that are there keeps the canister intact.
    let head: ByteBuf = query(canister, cast.controller, "stable_read", (0u64, 64u64)).unwrap();
    let entry = vec![(cast.admin.to_text(), profile("restored"))];
    vec![
        endpoint("backup_profiles", false, Admin, (0u64, 100u64)),
        endpoint(
            "backup_profiles_page",
            false,
            Admin,
            (None::<String>, None::<u64>, None::<String>),
        ),
        endpoint(
            "backup_profiles_splits",
            false,
            Admin,
            (None::<String>, 4u64),
        ),
        endpoint("restore_profiles", true, Admin, (entry.clone(),)),
        endpoint("validate_profiles", false, Admin, (entry,)),
        endpoint("clear_profiles", true, Admin, ()),
        endpoint("authorize", true, Admin, (someone,)),
        endpoint("deauthorize", true, Admin, (someone,)),
        endpoint("list_authorized", false, Admin, ()),
        endpoint("get_profile_of", false, Admin, (cast.stranger,)),
        endpoint("profile_count", false, Admin, ()),
        endpoint("backup", false, Admin, (0u64, 10u64)),
        endpoint("stable_authorize", true, Raw, (someone,)),
        endpoint("stable_deauthorize", true, Raw, (someone,)),
        endpoint("stable_size", false, Raw, ()),
        endpoint("stable_read", false, Raw, (0u64, 64u64)),
        endpoint("stable_write", true, Raw, (0u64, head)),
        endpoint("stable_digest", false, Raw, (0u64, 65536u64, 4096u64)),
    ]
}

#[test]
fn every_endpoint_admits_exactly_whom_the_design_says() {
    let cast = Cast::new();
    let who = [
        ("anonymous", cast.anonymous, false, false),
        ("stranger", cast.stranger, false, false),
        ("admin", cast.admin, true, false),
        ("raw-access holder", cast.raw, false, true),
        ("controller", cast.controller, true, true),
    ];
    let mut canister = setup(&cast);
    let endpoints = endpoints(&mut canister, &cast);
    let generated: Vec<String> = canister
        .methods()
        .into_iter()
        .map(|(_, name)| name)
        .collect();
    for endpoint in &endpoints {
        assert!(
            generated.iter().any(|name| name == endpoint.method),
            "{} is not exported",
            endpoint.method
        );
    }

    for (name, principal, admin, raw) in who {
        for endpoint in &endpoints {
            let allowed = match endpoint.guard {
                Guard::Admin => admin,
                Guard::Raw => raw,
            };
            let before = canister.stable_memory().to_vec();
            let result = call_raw(
                &mut canister,
                principal,
                endpoint.update,
                endpoint.method,
                &endpoint.arg,
            );
            if allowed {
                assert!(
                    result.is_ok(),
                    "{name} calling {}: {:?}",
                    endpoint.method,
                    result.unwrap_err()
                );
                if endpoint.method == "stable_write" {
                    // The typed endpoints refuse after a raw write until the
                    // upgrade, which also empties the raw-access set.
                    canister
                        .upgrade(&wasm("profiles"), b"DIDL\x00\x00")
                        .unwrap();
                    update::<_, ()>(
                        &mut canister,
                        cast.controller,
                        "stable_authorize",
                        (cast.raw,),
                    )
                    .unwrap();
                }
            } else {
                let reject = result.expect_err(&format!("{name} was let into {}", endpoint.method));
                assert_eq!(
                    reject.code,
                    RejectCode::CanisterReject,
                    "{name} on {}: {reject}",
                    endpoint.method
                );
                assert!(
                    reject.message.contains("is not authorized"),
                    "{}: {}",
                    endpoint.method,
                    reject.message
                );
                assert!(
                    reject.message.contains(&principal.to_text()),
                    "the reject names the caller: {}",
                    reject.message
                );
                assert_eq!(
                    canister.stable_memory(),
                    &before[..],
                    "{name}'s refused {} changed stable memory",
                    endpoint.method
                );
            }
        }
    }
}

#[test]
fn a_refused_caller_changes_nothing_the_canister_can_see() {
    let cast = Cast::new();
    let mut canister = setup(&cast);
    let someone = Principal::from_slice(&[9; 29]);
    for caller in [cast.stranger, cast.anonymous, cast.raw] {
        assert!(update::<_, u64>(&mut canister, caller, "clear_profiles", ()).is_err());
        assert!(update::<_, ()>(&mut canister, caller, "authorize", (caller,)).is_err());
        let batch = vec![(caller.to_text(), profile("intruder"))];
        assert!(update::<_, Result<u64, String>>(
            &mut canister,
            caller,
            "restore_profiles",
            (batch,)
        )
        .is_err());
    }
    for caller in [cast.stranger, cast.anonymous, cast.admin] {
        assert!(update::<_, ()>(&mut canister, caller, "stable_authorize", (caller,)).is_err());
        assert!(update::<_, ()>(
            &mut canister,
            caller,
            "stable_write",
            (0u64, ByteBuf::from(vec![0; 8]))
        )
        .is_err());
    }
    let count: u64 = query(&mut canister, cast.controller, "profile_count", ()).unwrap();
    assert_eq!(count, 1);
    let admins: Vec<Principal> =
        query(&mut canister, cast.controller, "list_authorized", ()).unwrap();
    assert_eq!(admins, vec![cast.admin]);
    // The raw set still holds only `raw`: `someone` was never added.
    assert!(query::<_, u64>(&mut canister, someone, "stable_size", ()).is_err());
    assert!(query::<_, u64>(&mut canister, cast.raw, "stable_size", ()).is_ok());
}

#[test]
fn admin_management_and_the_anonymous_principal() {
    let cast = Cast::new();
    let mut canister = setup(&cast);
    // An admin can add and remove other admins.
    update::<_, ()>(&mut canister, cast.admin, "authorize", (cast.stranger,)).unwrap();
    assert!(query::<_, u64>(&mut canister, cast.stranger, "profile_count", ()).is_ok());
    update::<_, ()>(&mut canister, cast.admin, "deauthorize", (cast.stranger,)).unwrap();
    assert!(query::<_, u64>(&mut canister, cast.stranger, "profile_count", ()).is_err());

    // Nobody can let the anonymous principal in.
    let before = canister.stable_memory().to_vec();
    let reject = update::<_, ()>(
        &mut canister,
        cast.controller,
        "authorize",
        (cast.anonymous,),
    )
    .unwrap_err();
    assert!(reject.message.contains("anonymous"), "{reject}");
    assert_eq!(canister.stable_memory(), &before[..]);
    let reject = update::<_, ()>(
        &mut canister,
        cast.controller,
        "stable_authorize",
        (cast.anonymous,),
    )
    .unwrap_err();
    assert!(reject.message.contains("anonymous"), "{reject}");

    // Removing a controller from the admin set does not lock it out.
    update::<_, ()>(
        &mut canister,
        cast.controller,
        "deauthorize",
        (cast.controller,),
    )
    .unwrap();
    assert!(query::<_, u64>(&mut canister, cast.controller, "profile_count", ()).is_ok());
    let admins: Vec<Principal> =
        query(&mut canister, cast.controller, "list_authorized", ()).unwrap();
    assert_eq!(admins, vec![cast.admin]);
}

#[test]
fn guards_never_create_the_admin_set_by_reading_it() {
    let cast = Cast::new();
    let mut canister = install("profiles", &cast);
    assert!(canister.stable_memory().is_empty());
    let someone = Principal::from_slice(&[9; 29]);
    update::<_, ()>(&mut canister, cast.controller, "deauthorize", (someone,)).unwrap();
    let admins: Vec<Principal> =
        query(&mut canister, cast.controller, "list_authorized", ()).unwrap();
    assert!(admins.is_empty());
    assert!(update::<_, ()>(&mut canister, cast.stranger, "authorize", (someone,)).is_err());
    assert!(
        canister.stable_memory().is_empty(),
        "reading an empty admin set wrote stable memory"
    );
    update::<_, ()>(&mut canister, cast.controller, "authorize", (someone,)).unwrap();
    assert!(!canister.stable_memory().is_empty());
    assert!(query::<_, u64>(&mut canister, someone, "profile_count", ()).is_ok());
}

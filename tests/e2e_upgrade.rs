//! Upgrades on the real wasm: the admin set survives, the raw-access set is
//! emptied, controllers still pass both guards, and a failed upgrade leaves
//! the canister as it was.

use backup_tests::*;
use canister_runner::RunnerError;
use profiles::Profile;

#[test]
fn the_admin_set_survives_and_the_raw_set_is_emptied() {
    let cast = Cast::new();
    let mut canister = install("profiles", &cast);
    update::<_, ()>(
        &mut canister,
        cast.stranger,
        "set_profile",
        (Profile::default(),),
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
    assert!(query::<_, u64>(&mut canister, cast.raw, "stable_size", ()).is_ok());

    canister
        .upgrade(&wasm("profiles"), b"DIDL\x00\x00")
        .unwrap();

    assert_eq!(
        query::<_, u64>(&mut canister, cast.admin, "profile_count", ()).unwrap(),
        1
    );
    let admins: Vec<candid::Principal> =
        query(&mut canister, cast.admin, "list_authorized", ()).unwrap();
    assert_eq!(admins, vec![cast.admin]);
    let reject = query::<_, u64>(&mut canister, cast.raw, "stable_size", ()).unwrap_err();
    assert!(
        reject.message.contains("since the last upgrade"),
        "{reject}"
    );
    assert!(query::<_, u64>(&mut canister, cast.controller, "stable_size", ()).is_ok());
    assert!(query::<_, u64>(&mut canister, cast.controller, "profile_count", ()).is_ok());
    // Raw access can be granted again.
    update::<_, ()>(
        &mut canister,
        cast.controller,
        "stable_authorize",
        (cast.raw,),
    )
    .unwrap();
    assert!(query::<_, u64>(&mut canister, cast.raw, "stable_size", ()).is_ok());
}

#[test]
fn a_failed_upgrade_changes_nothing() {
    let cast = Cast::new();
    let mut canister = install("profiles", &cast);
    update::<_, ()>(
        &mut canister,
        cast.controller,
        "stable_authorize",
        (cast.raw,),
    )
    .unwrap();
    update::<_, ()>(
        &mut canister,
        cast.stranger,
        "set_profile",
        (Profile::default(),),
    )
    .unwrap();
    let before = canister.stable_memory().to_vec();
    let error = canister
        .upgrade(b"\0asm\x01\0\0\0garbage", b"DIDL\x00\x00")
        .unwrap_err();
    assert!(matches!(error, RunnerError::BadModule(_)), "{error}");
    assert_eq!(canister.stable_memory(), &before[..]);
    // The old module still runs, heap included: the raw-access set is intact.
    assert!(query::<_, u64>(&mut canister, cast.raw, "stable_size", ()).is_ok());
    assert_eq!(
        query::<_, u64>(&mut canister, cast.controller, "profile_count", ()).unwrap(),
        1
    );
}

//! Bad input gets a clear refusal and leaves the canister byte for byte as it
//! was: malformed keys in a restore batch, reads and writes out of range or
//! overflowing, bad page budgets and cursors, oversize arguments, traps.

use backup_tests::*;
use candid::Principal;
use canister_runner::{Canister, RejectCode};
use profiles::Profile;
use serde_bytes::ByteBuf;

fn filled(cast: &Cast) -> Canister {
    let mut canister = install("profiles", cast);
    for n in 1..=20u8 {
        let profile = Profile {
            username: Some(format!("user{n}")),
            ..Profile::default()
        };
        update::<_, ()>(
            &mut canister,
            Principal::from_slice(&[n; 29]),
            "set_profile",
            (profile,),
        )
        .unwrap();
    }
    canister
}

/// Runs `f`, then checks stable memory is exactly what it was.
fn unchanged<T>(canister: &mut Canister, f: impl FnOnce(&mut Canister) -> T) -> T {
    backup_tests::unchanged(canister, "the refused call", f)
}

#[test]
fn a_restore_batch_with_a_malformed_key_changes_nothing() {
    let cast = Cast::new();
    let mut canister = filled(&cast);
    let good = (
        Principal::from_slice(&[50; 29]).to_text(),
        Profile::default(),
    );
    let batch = vec![
        good.clone(),
        ("not-a-principal".to_string(), Profile::default()),
        good,
    ];
    let result: Result<u64, String> = unchanged(&mut canister, |c| {
        update(c, cast.controller, "restore_profiles", (batch,)).unwrap()
    });
    let error = result.unwrap_err();
    assert!(
        error.contains("entry 1") && error.contains("`not-a-principal`"),
        "{error}"
    );
    assert!(error.contains("nothing was restored"), "{error}");
    assert_eq!(
        query::<_, u64>(&mut canister, cast.controller, "profile_count", ()).unwrap(),
        20
    );
}

#[test]
fn raw_reads_and_writes_out_of_range_are_rejected_with_the_range() {
    let cast = Cast::new();
    let mut canister = filled(&cast);
    let size: u64 = query(&mut canister, cast.controller, "stable_size", ()).unwrap();
    let cases: Vec<(&str, Vec<u8>, bool, &str)> = vec![
        (
            "stable_read",
            candid::encode_args((size - 10, 11u64)).unwrap(),
            false,
            "past",
        ),
        (
            "stable_read",
            candid::encode_args((u64::MAX, 2u64)).unwrap(),
            false,
            "overflows",
        ),
        (
            "stable_read",
            candid::encode_args((0u64, 3u64 << 20)).unwrap(),
            false,
            "at most",
        ),
        (
            "stable_write",
            candid::encode_args((u64::MAX - 1, ByteBuf::from(vec![1; 4]))).unwrap(),
            true,
            "overflows",
        ),
        (
            "stable_write",
            candid::encode_args((1u64 << 62, ByteBuf::from(vec![1; 4]))).unwrap(),
            true,
            "at most at the end",
        ),
        (
            "stable_digest",
            candid::encode_args((0u64, size + 1, 65536u64)).unwrap(),
            false,
            "past",
        ),
        (
            "stable_digest",
            candid::encode_args((0u64, size, 16u64)).unwrap(),
            false,
            "block size",
        ),
        (
            "stable_digest",
            candid::encode_args((u64::MAX, 1u64, 65536u64)).unwrap(),
            false,
            "overflows",
        ),
    ];
    for (method, arg, is_update, expected) in cases {
        let reject = unchanged(&mut canister, |c| {
            let result = if is_update {
                c.update(cast.controller, method, &arg)
            } else {
                c.query(cast.controller, method, &arg)
            };
            result.result.unwrap_err()
        });
        assert_eq!(reject.code, RejectCode::CanisterError, "{method}: {reject}");
        let message = reject.message.to_lowercase();
        assert!(
            message.contains(expected) || (expected == "past" && message.contains("within")),
            "{method}: `{expected}` not in {reject}"
        );
    }
}

#[test]
fn bad_page_requests_are_rejected_with_what_was_expected() {
    let cast = Cast::new();
    let mut canister = filled(&cast);
    let reject = query::<_, backup_runtime::BackupPage<String, Profile>>(
        &mut canister,
        cast.controller,
        "backup_profiles_page",
        (None::<String>, Some(0u64)),
    )
    .unwrap_err();
    assert!(
        reject.message.contains("expected max_bytes between 1 and"),
        "{reject}"
    );
    let reject = query::<_, backup_runtime::BackupPage<String, Profile>>(
        &mut canister,
        cast.controller,
        "backup_profiles_page",
        (Some("???".to_string()), None::<u64>),
    )
    .unwrap_err();
    assert!(
        reject.message.contains("bad cursor") && reject.message.contains("`???`"),
        "{reject}"
    );
    let reject = query::<_, backup_runtime::BackupPage<String, Profile>>(
        &mut canister,
        cast.controller,
        "backup_profiles_page",
        (None::<String>, None::<u64>, Some("!!!".to_string())),
    )
    .unwrap_err();
    assert!(
        reject.message.contains("bad end key `until`") && reject.message.contains("`!!!`"),
        "{reject}"
    );
    // Split keys: `parts` in 1..=4096, the cursor a key.
    for (after, parts, expected) in [
        (None, 0u64, "expected parts between 1 and 4096, found 0"),
        (None, 4097, "expected parts between 1 and 4096, found 4097"),
        (Some("???".to_string()), 4, "bad cursor"),
    ] {
        let reject = query::<_, backup_runtime::page::Splits<String>>(
            &mut canister,
            cast.controller,
            "backup_profiles_splits",
            (after, parts),
        )
        .unwrap_err();
        assert!(reject.message.contains(expected), "{expected}: {reject}");
    }
    // An argument of the wrong Candid type traps in decoding, before anything runs.
    let reject = unchanged(&mut canister, |c| {
        c.update(
            cast.controller,
            "restore_profiles",
            &candid::encode_one(42u64).unwrap(),
        )
        .result
        .unwrap_err()
    });
    assert_eq!(reject.code, RejectCode::CanisterError, "{reject}");
}

#[test]
fn arguments_over_the_ingress_limit_are_refused_before_the_canister_runs() {
    let cast = Cast::new();
    let mut canister = filled(&cast);
    let huge = vec![(
        Principal::from_slice(&[60; 29]).to_text(),
        Profile {
            username: Some("x".repeat(INGRESS_LIMIT)),
            ..Profile::default()
        },
    )];
    let arg = candid::encode_one(&huge).unwrap();
    assert!(arg.len() > INGRESS_LIMIT);
    let reject = unchanged(&mut canister, |c| {
        c.update(cast.controller, "restore_profiles", &arg)
            .result
            .unwrap_err()
    });
    assert_eq!(reject.code, RejectCode::SysFatal);
    assert!(reject.message.contains("ingress limit"), "{reject}");
    let data = ByteBuf::from(vec![0u8; INGRESS_LIMIT]);
    let arg = candid::encode_args((0u64, data)).unwrap();
    let reject = unchanged(&mut canister, |c| {
        c.update(cast.controller, "stable_write", &arg)
            .result
            .unwrap_err()
    });
    assert_eq!(reject.code, RejectCode::SysFatal);
}

#[test]
fn a_trap_rolls_back_an_update_and_a_query_keeps_nothing() {
    let cast = Cast::new();
    let mut canister = filled(&cast);
    // The anonymous principal may not keep a profile: set_profile traps.
    let reject = unchanged(&mut canister, |c| {
        update::<_, ()>(
            c,
            Principal::anonymous(),
            "set_profile",
            (Profile::default(),),
        )
        .unwrap_err()
    });
    assert_eq!(reject.code, RejectCode::CanisterError);
    assert!(
        reject
            .message
            .contains("anonymous principal cannot keep a profile"),
        "{reject}"
    );
    // A query that reads pages changes nothing either.
    unchanged(&mut canister, |c| {
        backup_with_cursor::<String, Profile>(c, cast.controller, "profiles");
    });
}

#[test]
fn unknown_methods_and_unimplemented_system_calls_fail_clearly() {
    let cast = Cast::new();
    let mut canister = filled(&cast);
    let reject = canister
        .query(cast.controller, "no_such_method", b"DIDL\x00\x00")
        .result
        .unwrap_err();
    assert_eq!(reject.code, RejectCode::DestinationInvalid);
    assert!(reject.message.contains("no_such_method"), "{reject}");
    // `stable_write` is an update: calling it as a query is refused.
    let reject = canister
        .query(cast.controller, "stable_write", b"DIDL\x00\x00")
        .result
        .unwrap_err();
    assert_eq!(reject.code, RejectCode::DestinationInvalid);
}

/// A map declared over a memory that holds another structure (here a
/// `StableCell`'s magic where the profiles map begins) is not opened by any
/// of its endpoints: each refuses, naming the memory and what it holds,
/// and stable memory stays byte for byte as it was (`StableBTreeMap::init`
/// would have made a new map over it, which a restore writes).
#[test]
fn a_map_over_a_memory_holding_another_structure_is_refused_by_every_endpoint() {
    let cast = Cast::new();
    let mut image = filled(&cast).stable_memory().to_vec();
    // Memory 0's first bucket, by the MemoryManager's owner table at 2080.
    let bucket_pages = u16::from_le_bytes([image[6], image[7]]) as usize;
    let first = image[2080..2080 + 32768]
        .iter()
        .position(|&owner| owner == 0)
        .expect("memory 0 owns a bucket");
    let start = 65536 + first * bucket_pages * 65536;
    assert_eq!(&image[start..start + 3], b"BTR");
    image[start..start + 3].copy_from_slice(b"SCL");
    let args = canister_runner::InstallArgs {
        controllers: vec![cast.controller],
        ..Default::default()
    };
    let mut canister = Canister::from_image(&wasm("profiles"), image.clone(), args).unwrap();
    assert!(
        canister.stable_memory() == &image[..],
        "the upgrade opened nothing"
    );
    let expect_refused = |reject: canister_runner::Reject, what: &str| {
        assert!(
            reject
                .message
                .contains("memory 0 holds a structure with magic")
                && reject.message.contains("SCL")
                && reject.message.contains("not a StableBTreeMap"),
            "{what}: {reject}"
        );
    };
    let entries = vec![(
        Principal::from_slice(&[9; 29]).to_text(),
        Profile::default(),
    )];
    let controller = cast.controller;
    let refusals: Vec<(&str, bool, Vec<u8>)> = vec![
        (
            "backup_profiles",
            false,
            candid::encode_args((0u64, 10u64)).unwrap(),
        ),
        (
            "backup_profiles_page",
            false,
            candid::encode_args((None::<String>, None::<u64>)).unwrap(),
        ),
        (
            "backup_profiles_splits",
            false,
            candid::encode_args((None::<String>, 4u64)).unwrap(),
        ),
        (
            "validate_profiles",
            false,
            candid::encode_one(&entries).unwrap(),
        ),
        (
            "restore_profiles",
            true,
            candid::encode_one(&entries).unwrap(),
        ),
        ("clear_profiles", true, candid::encode_args(()).unwrap()),
    ];
    for (method, is_update, arg) in refusals {
        let reject = unchanged(&mut canister, |c| {
            let result = if is_update {
                c.update(controller, method, &arg)
            } else {
                c.query(controller, method, &arg)
            };
            result.result.unwrap_err()
        });
        expect_refused(reject, method);
    }
    assert!(canister.stable_memory() == &image[..]);
}

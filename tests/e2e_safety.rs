//! Nothing is lost, on the real wasm: entries too large to restore are never
//! backed up in a form restore cannot take back; guards never write, whatever
//! the admin set's memory holds; raw writes cannot leave holes, and the typed
//! endpoints refuse until the upgrade that makes the heap read the new
//! memory; a key has exactly one text; `validate_<name>` checks without
//! writing.

use backup_runtime::BackupPage;
use backup_tests::*;
use candid::Principal;
use canister_runner::{Canister, InstallArgs};
use ic_stable_structures::memory_manager::MemoryId;
use ic_stable_structures::{Memory as _, StableBTreeMap};
use profiles::{Profile, PROFILES};
use serde_bytes::ByteBuf;

fn user(n: u8) -> Principal {
    Principal::from_slice(&[n; 29])
}

fn named(name: &str) -> Profile {
    Profile {
        username: Some(name.into()),
        ..Profile::default()
    }
}

/// An image of the profiles canister made natively: `profiles` in its map,
/// then whatever `extra` writes. Runs on its own thread, whose stable memory
/// starts empty.
fn native_image(
    profiles: Vec<(Principal, Profile)>,
    extra: impl FnOnce() + Send + 'static,
) -> Vec<u8> {
    std::thread::spawn(move || {
        PROFILES.with(|map| {
            let mut map = map.borrow_mut();
            for (key, value) in profiles {
                map.insert(key, value);
            }
        });
        extra();
        let image = backup_runtime::stable_memory().borrow().clone();
        image
    })
    .join()
    .expect("building the image")
}

fn over_image(image: Vec<u8>, cast: &Cast) -> Canister {
    let args = InstallArgs {
        controllers: vec![cast.controller],
        ..InstallArgs::default()
    };
    Canister::from_image(&wasm("profiles"), image, args).expect("loading the image")
}

/// Every page of `backup_profiles_page`: the entries and the skipped keys.
fn cursor_backup(
    canister: &mut Canister,
    caller: Principal,
) -> (Vec<(String, Profile)>, Vec<String>) {
    let (mut entries, mut skipped, mut after) = (Vec::new(), Vec::new(), None::<String>);
    loop {
        let arg = candid::encode_args((after.clone(), None::<u64>)).unwrap();
        let result = canister.query(caller, "backup_profiles_page", &arg);
        assert!(result.stats.bytes_out <= QUERY_REPLY_LIMIT);
        let reply = result.result.unwrap_or_else(|reject| panic!("{reject}"));
        let page: BackupPage<String, Profile> = candid::decode_one(&reply).unwrap();
        entries.extend(page.entries);
        skipped.extend(page.skipped);
        match page.next {
            Some(next) => after = Some(next),
            None => return (entries, skipped),
        }
    }
}

#[test]
fn an_entry_too_large_to_restore_is_named_and_skipped_and_the_cursor_goes_on() {
    let cast = Cast::new();
    let mut small: Vec<(Principal, Profile)> = (1..=6)
        .map(|n| (user(n), named(&format!("user{n}"))))
        .collect();
    // 2.2 MiB: under the 2.5 MiB a page could carry, over what a restore
    // call can (2 MiB of ingress); 3 MiB: over both.
    let big = (user(3).to_text(), named(&"b".repeat(2_200_000)));
    let huge = (user(5).to_text(), named(&"h".repeat(3_000_000)));
    let mut all = small.clone();
    all.push((user(3), big.1.clone()));
    all.push((user(5), huge.1.clone()));
    small.retain(|(key, _)| *key != user(3) && *key != user(5));
    let mut canister = over_image(native_image(all, || {}), &cast);

    let (entries, skipped) = cursor_backup(&mut canister, cast.controller);
    let expected: Vec<(String, Profile)> = small
        .iter()
        .map(|(key, value)| (key.to_text(), value.clone()))
        .collect();
    assert_eq!(entries, expected, "every entry that fits, in key order");
    let mut named_keys = vec![big.0.clone(), huge.0.clone()];
    named_keys.sort_by_key(|text| Principal::from_text(text).unwrap());
    assert_eq!(
        skipped, named_keys,
        "each entry left out is named by its key"
    );

    // What was backed up restores into a fresh canister.
    let mut fresh = install("profiles", &cast);
    restore_in_batches(&mut fresh, cast.controller, "profiles", &entries);
    assert_eq!(cursor_backup(&mut fresh, cast.controller).0, entries);

    // The article's offset page has no room to say so: it refuses, naming the key.
    let reject = query::<_, Vec<(String, Profile)>>(
        &mut canister,
        cast.controller,
        "backup_profiles",
        (0u64, 100u64),
    )
    .unwrap_err();
    assert!(
        reject.message.contains(&big.0) && reject.message.contains("restore"),
        "{reject}"
    );
}

/// Fills the admin set's memory (254) of a profiles image with `bytes`.
fn admin_memory_holding(bytes: &'static [u8]) -> Vec<u8> {
    native_image(vec![(user(1), named("one"))], move || {
        let memory = backup_runtime::memory(MemoryId::new(254));
        memory.grow(1);
        memory.write(0, bytes);
    })
}

#[test]
fn guards_and_authorize_never_write_over_what_the_admin_memory_holds() {
    let cast = Cast::new();
    let foreign_map = native_image(vec![(user(1), named("one"))], || {
        // A structure of the canister's own where the admin set would live.
        let mut own: StableBTreeMap<u64, u64, _> =
            StableBTreeMap::init(backup_runtime::memory(MemoryId::new(254)));
        own.insert(42, 4242);
    });
    for (what, image) in [
        ("junk", admin_memory_holding(b"JUNK JUNK JUNK JUNK")),
        ("zeros", admin_memory_holding(&[0; 64])),
        ("a map of other types", foreign_map),
    ] {
        let mut canister = over_image(image, &cast);
        for caller in [cast.stranger, cast.admin, cast.anonymous] {
            let reject = unchanged(&mut canister, what, |c| {
                update::<_, Result<u64, String>>(
                    c,
                    caller,
                    "restore_profiles",
                    (vec![(user(9).to_text(), named("nine"))],),
                )
                .unwrap_err()
            });
            assert!(
                reject.message.contains("not authorized"),
                "{what}: {reject}"
            );
            unchanged(&mut canister, what, |c| {
                query::<_, u64>(c, caller, "profile_count", ()).unwrap_err()
            });
        }
        let reject = unchanged(&mut canister, what, |c| {
            update::<_, ()>(c, cast.controller, "authorize", (cast.admin,)).unwrap_err()
        });
        assert!(
            reject.message.contains("memory 254") && reject.message.contains("not an admin set"),
            "{what}: {reject}"
        );
        unchanged(&mut canister, what, |c| {
            update::<_, ()>(c, cast.controller, "deauthorize", (cast.admin,)).unwrap_err()
        });
        // Controllers keep every typed endpoint.
        assert_eq!(
            query::<_, u64>(&mut canister, cast.controller, "profile_count", ()).unwrap(),
            1,
            "{what}"
        );
        assert_eq!(cursor_backup(&mut canister, cast.controller).0.len(), 1);
    }
}

#[test]
fn a_raw_write_starts_at_most_at_the_end_of_memory() {
    let cast = Cast::new();
    let mut canister = install("profiles", &cast);
    update::<_, ()>(&mut canister, cast.controller, "authorize", (cast.admin,)).unwrap();
    let size: u64 = query(&mut canister, cast.controller, "stable_size", ()).unwrap();
    for offset in [size + 1, size + 65536, 100 << 30] {
        let reject = unchanged(&mut canister, "a write past the end", |c| {
            update::<_, ()>(
                c,
                cast.controller,
                "stable_write",
                (offset, ByteBuf::from(vec![1u8; 4])),
            )
            .unwrap_err()
        });
        assert!(
            reject.message.contains("at most at the end")
                && reject.message.contains(&size.to_string()),
            "{reject}"
        );
    }
    update::<_, ()>(
        &mut canister,
        cast.controller,
        "stable_write",
        (size, ByteBuf::from(vec![1u8; 4])),
    )
    .unwrap();
    let grown: u64 = query(&mut canister, cast.controller, "stable_size", ()).unwrap();
    assert_eq!(grown, size + 65536);
}

#[test]
fn after_a_raw_write_typed_endpoints_refuse_until_the_upgrade() {
    let cast = Cast::new();
    let mut canister = install("profiles", &cast);
    let first: Vec<(String, Profile)> = (1..=10)
        .map(|n| (user(n).to_text(), named(&format!("old{n}"))))
        .collect();
    restore_in_batches(&mut canister, cast.controller, "profiles", &first);
    update::<_, ()>(&mut canister, cast.controller, "authorize", (cast.admin,)).unwrap();

    // The image to load: another canister's memory, with other profiles.
    let mut other = install("profiles", &cast);
    let second: Vec<(String, Profile)> = (20..=40)
        .map(|n| (user(n).to_text(), named(&format!("new{n}"))))
        .collect();
    restore_in_batches(&mut other, cast.controller, "profiles", &second);
    update::<_, ()>(&mut other, cast.controller, "authorize", (cast.admin,)).unwrap();
    let image = other.stable_memory().to_vec();
    assert!(image.len() >= canister.stable_memory().len());
    for (i, chunk) in image.chunks(1 << 20).enumerate() {
        let offset = (i << 20) as u64;
        update::<_, ()>(
            &mut canister,
            cast.controller,
            "stable_write",
            (offset, ByteBuf::from(chunk.to_vec())),
        )
        .unwrap();
    }
    assert_eq!(canister.stable_memory(), &image[..]);

    let entry = vec![(user(9).to_text(), named("late"))];
    let calls: Vec<(&str, bool, Vec<u8>)> = vec![
        (
            "restore_profiles",
            true,
            candid::encode_one(&entry).unwrap(),
        ),
        ("clear_profiles", true, candid::encode_args(()).unwrap()),
        ("authorize", true, candid::encode_one(user(77)).unwrap()),
        ("deauthorize", true, candid::encode_one(cast.admin).unwrap()),
        (
            "backup_profiles_page",
            false,
            candid::encode_args((None::<String>, None::<u64>)).unwrap(),
        ),
        (
            "backup_profiles",
            false,
            candid::encode_args((0u64, 10u64)).unwrap(),
        ),
        (
            "validate_profiles",
            false,
            candid::encode_one(&entry).unwrap(),
        ),
        ("list_authorized", false, candid::encode_args(()).unwrap()),
    ];
    for (method, is_update, arg) in &calls {
        for caller in [cast.controller, cast.admin] {
            let reject = unchanged(&mut canister, method, |c| {
                let result = if *is_update {
                    c.update(caller, method, arg)
                } else {
                    c.query(caller, method, arg)
                };
                result.result.unwrap_err()
            });
            assert!(
                reject
                    .message
                    .contains("raw memory was written; upgrade the canister first"),
                "{method}: {reject}"
            );
        }
    }
    assert_eq!(
        canister.stable_memory(),
        &image[..],
        "the loaded image is whole"
    );

    canister
        .upgrade(&wasm("profiles"), b"DIDL\x00\x00")
        .unwrap();
    assert_eq!(cursor_backup(&mut canister, cast.admin).0, {
        let mut sorted = second.clone();
        sorted.sort_by_key(|(key, _)| Principal::from_text(key).unwrap());
        sorted
    });
    restore_in_batches(&mut canister, cast.admin, "profiles", &entry);
}

#[test]
fn a_key_has_exactly_one_text_and_appears_once_per_batch() {
    let cast = Cast::new();
    let mut ledger = install("ledger", &cast);
    let before = ledger.stable_memory().to_vec();
    let batch = vec![
        ("7".to_string(), "seven".to_string()),
        ("007".to_string(), "again".to_string()),
    ];
    for method in ["validate_nicknames", "restore_nicknames"] {
        let result: Result<u64, String> = if method.starts_with("validate") {
            query(&mut ledger, cast.controller, method, (batch.clone(),)).unwrap()
        } else {
            update(&mut ledger, cast.controller, method, (batch.clone(),)).unwrap()
        };
        let error = result.unwrap_err();
        assert!(
            error.contains("entry 1")
                && error.contains("canonical text `7`")
                && error.contains("`007`"),
            "{method}: {error}"
        );
    }
    assert_eq!(ledger.stable_memory(), &before[..]);
    let twice = vec![
        ("7".to_string(), "seven".to_string()),
        ("7".to_string(), "again".to_string()),
    ];
    let error = update::<_, Result<u64, String>>(
        &mut ledger,
        cast.controller,
        "restore_nicknames",
        (twice,),
    )
    .unwrap()
    .unwrap_err();
    assert!(
        error.contains("entry 1 (key `7`)") && error.contains("entry 0"),
        "{error}"
    );
    assert_eq!(ledger.stable_memory(), &before[..]);

    // Principals parse case-insensitively; only the canonical text is a key.
    let mut profiles = install("profiles", &cast);
    let text = user(4).to_text();
    let batch = vec![
        (text.clone(), named("lower")),
        (text.to_uppercase(), named("upper")),
    ];
    let error = update::<_, Result<u64, String>>(
        &mut profiles,
        cast.controller,
        "restore_profiles",
        (batch,),
    )
    .unwrap()
    .unwrap_err();
    assert!(
        error.contains("entry 1") && error.contains("canonical"),
        "{error}"
    );
    assert_eq!(
        query::<_, u64>(&mut profiles, cast.controller, "profile_count", ()).unwrap(),
        0
    );
}

#[test]
fn validate_runs_every_check_of_restore_and_writes_nothing() {
    let cast = Cast::new();
    let mut canister = install("profiles", &cast);
    let good: Vec<(String, Profile)> = (1..=30).map(|n| (user(n).to_text(), named("x"))).collect();
    let answer: Result<u64, String> = unchanged(&mut canister, "validate", |c| {
        query(c, cast.controller, "validate_profiles", (good.clone(),)).unwrap()
    });
    assert_eq!(answer, Ok(30));
    let mut bad = good.clone();
    bad[29].0 = "not-a-principal".into();
    let validated: Result<u64, String> = query(
        &mut canister,
        cast.controller,
        "validate_profiles",
        (bad.clone(),),
    )
    .unwrap();
    let restored: Result<u64, String> = unchanged(&mut canister, "a refused restore", |c| {
        update(c, cast.controller, "restore_profiles", (bad,)).unwrap()
    });
    assert_eq!(validated, restored, "the same answer as restore");
    assert!(validated.unwrap_err().starts_with("entry 29"));
    let reject =
        query::<_, Result<u64, String>>(&mut canister, cast.stranger, "validate_profiles", (good,))
            .unwrap_err();
    assert!(reject.message.contains("not authorized"), "{reject}");
}

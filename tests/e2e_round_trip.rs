//! Backup then restore gives back exactly the data, on the real wasm: maps
//! filled through the canisters' own methods, backed up with both endpoints
//! in many pages (some values near the page budget), cleared, restored in
//! batches under the ingress limit, and compared entry by entry.

use backup_runtime::limits::DEFAULT_PAGE_BYTES;
use backup_tests::ledger_types::{Account, AccountKind, Document, Limits, Transfer};
use backup_tests::*;
use candid::Principal;
use canister_runner::CallStats;
use profiles::Profile;
use serde_bytes::ByteBuf;

fn user(n: u32) -> Principal {
    let mut bytes = [5u8; 29];
    bytes[..4].copy_from_slice(&n.to_be_bytes());
    Principal::from_slice(&bytes)
}

/// No reply over the query limit, and none over the page budget unless it
/// carries a single entry that is larger on its own.
fn check_pages(calls: &[CallStats], what: &str) {
    for (i, call) in calls.iter().enumerate() {
        assert!(
            call.bytes_out < QUERY_REPLY_LIMIT,
            "{what} page {i}: {} bytes",
            call.bytes_out
        );
    }
}

#[test]
fn profiles_survive_backup_clear_and_restore_exactly() {
    let cast = Cast::new();
    let mut canister = install("profiles", &cast);
    let small = 3000;
    for n in 0..small {
        let profile = Profile {
            username: Some(format!("user{n}")),
            email: Some(format!("user{n}@example.org")),
            password: Some("x".repeat((n as usize * 37) % 900)),
            updated_time_msecs: None,
        };
        update::<_, ()>(&mut canister, user(n), "set_profile", (profile,)).unwrap();
    }
    // Values near, at and over the 1.5 MiB page budget.
    let large = [700_000usize, 1_400_000, 1_560_000, 1_700_000];
    for (i, size) in large.iter().enumerate() {
        let profile = Profile {
            username: Some("L".repeat(*size)),
            ..Profile::default()
        };
        update::<_, ()>(
            &mut canister,
            user(small + i as u32),
            "set_profile",
            (profile,),
        )
        .unwrap();
    }
    let total = small as usize + large.len();

    let (by_cursor, cursor_calls) =
        backup_with_cursor::<String, Profile>(&mut canister, cast.controller, "profiles");
    let (by_offset, offset_calls) =
        backup_with_offset::<String, Profile>(&mut canister, cast.controller, "profiles");
    assert_eq!(by_cursor.len(), total);
    assert_eq!(by_cursor, by_offset, "both endpoints give the same backup");
    assert!(cursor_calls.len() >= 5, "only {} pages", cursor_calls.len());
    check_pages(&cursor_calls, "cursor");
    check_pages(&offset_calls, "offset");
    let full = cursor_calls
        .iter()
        .filter(|c| c.bytes_out as u64 > DEFAULT_PAGE_BYTES + 1024)
        .count();
    assert!(
        full <= 1,
        "only the 1.7 MB entry may pass the budget, alone"
    );

    // Every key is a user who set a profile, with the username they set.
    for (key, profile) in &by_cursor {
        let principal = Principal::from_text(key).unwrap();
        let fetched: Option<Profile> = query(
            &mut canister,
            cast.controller,
            "get_profile_of",
            (principal,),
        )
        .unwrap();
        assert_eq!(fetched.as_ref(), Some(profile));
    }

    let cleared: u64 = update(&mut canister, cast.controller, "clear_profiles", ()).unwrap();
    assert_eq!(cleared, total as u64);
    assert_eq!(
        query::<_, u64>(&mut canister, cast.controller, "profile_count", ()).unwrap(),
        0
    );

    let restore_calls = restore_in_batches(&mut canister, cast.controller, "profiles", &by_cursor);
    assert!(restore_calls.len() > 3, "{} batches", restore_calls.len());
    assert!(restore_calls.iter().all(|c| c.bytes_in <= INGRESS_LIMIT));

    let (after, _) =
        backup_with_cursor::<String, Profile>(&mut canister, cast.controller, "profiles");
    assert_eq!(after, by_cursor, "the restored map is exactly the backup");
}

fn fill_ledger(canister: &mut canister_runner::Canister, caller: Principal) {
    let accounts = 400u64;
    for n in 0..accounts {
        let kind = match n % 3 {
            0 => AccountKind::Checking,
            1 => AccountKind::Savings {
                rate_basis_points: (n % 500) as u16,
            },
            _ => AccountKind::Frozen {
                reason: format!("case {n}"),
            },
        };
        let limits = (n % 2 == 0).then_some(Limits {
            daily: n * 10,
            monthly: (n % 4 == 0).then_some(n * 300),
        });
        let number: u64 = update(
            canister,
            caller,
            "open_account",
            (user(n as u32), kind, limits),
        )
        .unwrap();
        let balance: Result<u64, String> =
            update(canister, caller, "deposit", (number, (1u64 << 60) + n)).unwrap();
        assert!(balance.is_ok());
    }
    for n in 0..1500u64 {
        let (from, to) = (1 + n % accounts, 1 + (n * 7) % accounts);
        // Transfers from frozen accounts are refused, and logged as refused.
        let id: Result<u64, String> =
            update(canister, caller, "transfer", (from, to, n * 1_000_003)).unwrap();
        assert_eq!(id, Ok(n + 1));
    }
    for n in 0..40u32 {
        let content: Vec<u8> = (0..(n as usize * 25_000))
            .map(|i| (i * 31 + n as usize) as u8)
            .collect();
        update::<_, ()>(
            canister,
            caller,
            "put_document",
            (
                format!("doc-{n:02}"),
                "application/octet-stream",
                ByteBuf::from(content),
            ),
        )
        .unwrap();
    }
}

#[test]
fn every_map_of_the_ledger_survives_with_every_type_intact() {
    let cast = Cast::new();
    let mut canister = install("ledger", &cast);
    fill_ledger(&mut canister, cast.controller);

    let caller = cast.controller;
    let (accounts, a_calls) = backup_with_cursor::<u64, Account>(&mut canister, caller, "accounts");
    let (transfers, t_calls) =
        backup_with_cursor::<u64, Transfer>(&mut canister, caller, "transfers");
    let (documents, d_calls) =
        backup_with_cursor::<String, Document>(&mut canister, caller, "documents");
    let (owners, o_calls) = backup_with_cursor::<Principal, u64>(&mut canister, caller, "owners");
    for (calls, what) in [
        (&a_calls, "accounts"),
        (&t_calls, "transfers"),
        (&d_calls, "documents"),
        (&o_calls, "owners"),
    ] {
        check_pages(calls, what);
    }
    assert_eq!(
        (
            accounts.len(),
            transfers.len(),
            documents.len(),
            owners.len()
        ),
        (400, 1500, 40, 400)
    );
    assert!(
        d_calls.len() > 5,
        "documents need many pages, got {}",
        d_calls.len()
    );
    assert!(
        accounts.iter().any(|(_, a)| a.balance > 1 << 53),
        "nat64 above 2^53 is in the data"
    );
    assert_eq!(
        backup_with_offset::<u64, Transfer>(&mut canister, caller, "transfers").0,
        transfers
    );

    for map in ["accounts", "transfers", "documents", "owners"] {
        let _: u64 = update(&mut canister, caller, &format!("clear_{map}"), ()).unwrap();
    }
    let missing: Option<Account> = query(&mut canister, caller, "get_account", (1u64,)).unwrap();
    assert_eq!(missing, None);

    restore_in_batches(&mut canister, caller, "accounts", &accounts);
    restore_in_batches(&mut canister, caller, "transfers", &transfers);
    restore_in_batches(&mut canister, caller, "documents", &documents);
    restore_in_batches(&mut canister, caller, "owners", &owners);

    assert_eq!(
        backup_with_cursor::<u64, Account>(&mut canister, caller, "accounts").0,
        accounts
    );
    assert_eq!(
        backup_with_cursor::<u64, Transfer>(&mut canister, caller, "transfers").0,
        transfers
    );
    assert_eq!(
        backup_with_cursor::<String, Document>(&mut canister, caller, "documents").0,
        documents
    );
    assert_eq!(
        backup_with_cursor::<Principal, u64>(&mut canister, caller, "owners").0,
        owners
    );
    // And the canister's own methods see the restored data.
    let first: Option<Account> = query(&mut canister, caller, "get_account", (1u64,)).unwrap();
    assert_eq!(first.as_ref(), accounts.first().map(|(_, a)| a));
    let doc: Option<Document> = query(
        &mut canister,
        caller,
        "get_document",
        ("doc-39".to_string(),),
    )
    .unwrap();
    assert_eq!(doc.map(|d| d.content.len()), Some(39 * 25_000));
}

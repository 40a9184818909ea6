//! Restores store only what the canister can read back, as it would write
//! it: on the strict fixture's real wasm, whose value types opt in to
//! `CandidBytes` with a `Deserialize` stricter than their Candid type (a
//! `[u8; 32]` hash) or one that normalises (a `BTreeMap`, a `Duration`).

use backup_tests::*;
use candid::{CandidType, Deserialize};
use canister_runner::Canister;

/// `Hashed` as any client may write it: the hash any blob.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
struct AnyHashed {
    #[serde(with = "serde_bytes")]
    hash: Vec<u8>,
    n: u8,
}

/// `Tally` as any client may write it: the counts any list of pairs.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
struct AnyTally {
    counts: Vec<(String, u64)>,
    span: AnySpan,
}

#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
struct AnySpan {
    secs: u64,
    nanos: u32,
}

fn strict(cast: &Cast) -> Canister {
    install("strict_fixture", cast)
}

fn restore<T: CandidType>(
    canister: &mut Canister,
    cast: &Cast,
    method: &str,
    batch: &[(u64, T)],
) -> Result<u64, String> {
    update::<_, Result<u64, String>>(canister, cast.controller, method, (batch,))
        .unwrap_or_else(|reject| panic!("{method}: {reject}"))
}

/// The batch: a 3-byte hash for a `[u8; 32]`. `validate_` and
/// `restore_` refuse it, naming the entry and the decoder's message, and
/// stable memory is byte for byte as it was; the canister reads what it
/// holds as before.
#[test]
fn a_value_the_canister_cannot_read_back_is_refused() {
    let cast = Cast::new();
    let mut canister = strict(&cast);
    let good = AnyHashed {
        hash: vec![7; 32],
        n: 7,
    };
    assert_eq!(
        restore(&mut canister, &cast, "restore_hashes", &[(7, good)]),
        Ok(1)
    );
    let bad = vec![
        (
            2u64,
            AnyHashed {
                hash: vec![2; 32],
                n: 2,
            },
        ),
        (
            1,
            AnyHashed {
                hash: vec![1, 2, 3],
                n: 9,
            },
        ),
    ];
    let validated = unchanged(&mut canister, "validate_hashes", |c| {
        query::<_, Result<u64, String>>(c, cast.controller, "validate_hashes", (&bad,)).unwrap()
    });
    let restored = unchanged(&mut canister, "restore_hashes", |c| {
        restore(c, &cast, "restore_hashes", &bad)
    });
    for answer in [validated, restored] {
        let error = answer.unwrap_err();
        assert!(
            error.contains("entry 1:")
                && error.contains("does not decode as the map's value type")
                && error.contains("invalid length 3")
                && error.contains("nothing was restored"),
            "{error}"
        );
    }
    let read = query::<_, Option<AnyHashed>>(&mut canister, cast.controller, "get_hashed", (7u64,));
    assert_eq!(read.unwrap().map(|h| h.n), Some(7));
}

/// A value whose type normalises it is stored as the canister writes it:
/// read back, and backed up again, it is the canister's own encoding (a
/// key once, in order; the nanoseconds carried into seconds), not what
/// was sent.
#[test]
fn a_value_its_type_normalises_is_stored_and_backed_up_as_the_canister_writes_it() {
    let cast = Cast::new();
    let mut canister = strict(&cast);
    let sent = AnyTally {
        counts: vec![("b".into(), 2), ("a".into(), 1), ("b".into(), 3)],
        span: AnySpan {
            secs: 1,
            nanos: 2_500_000_000,
        },
    };
    let plain = AnyTally {
        counts: vec![("x".into(), 9)],
        span: AnySpan { secs: 3, nanos: 4 },
    };
    assert_eq!(
        restore(
            &mut canister,
            &cast,
            "restore_tallies",
            &[(1, sent), (2, plain.clone())]
        ),
        Ok(2)
    );
    let own = AnyTally {
        counts: vec![("a".into(), 1), ("b".into(), 3)],
        span: AnySpan {
            secs: 3,
            nanos: 500_000_000,
        },
    };
    let read = query::<_, Option<AnyTally>>(&mut canister, cast.controller, "get_tally", (1u64,));
    assert_eq!(read.unwrap(), Some(own.clone()));
    // The backup page carries the stored bytes as they are (spliced).
    let (entries, _) =
        backup_with_cursor::<u64, AnyTally>(&mut canister, cast.controller, "tallies");
    assert_eq!(entries, vec![(1, own), (2, plain)]);
}

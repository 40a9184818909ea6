//! The guards of every endpoint the derive generates for each collection of
//! ic-stable-structures, on the club canister's real wasm (a cell, a set, a
//! map, a vec, a log, a min-heap): the anonymous principal and a stranger
//! are refused on each, naming the caller, and the refusal changes nothing
//! in stable memory; an admin is let in, and a valid batch is taken. A
//! refused restore into a club that never touched its structures writes
//! nothing at all (not even the `MemoryManager`'s header).

use backup_tests::*;
use candid::utils::ArgumentEncoder;
use candid::Principal;
use canister_runner::RejectCode;
use club::{Action, Config, Event, Job, Post};

/// One endpoint and its encoded argument.
struct Endpoint {
    method: String,
    update: bool,
    arg: Vec<u8>,
}

fn endpoint(method: String, update: bool, args: impl ArgumentEncoder) -> Endpoint {
    Endpoint {
        method,
        update,
        arg: candid::encode_args(args).unwrap(),
    }
}

/// The six endpoints of structure `name`, keyed by `K` (an index: `u64`),
/// with `batch` as a valid restore argument.
fn six<K: candid::CandidType + Clone, V: candid::CandidType + Clone>(
    name: &str,
    batch: Vec<(K, V)>,
) -> Vec<Endpoint> {
    vec![
        endpoint(format!("backup_{name}"), false, (0u64, 10u64)),
        endpoint(
            format!("backup_{name}_page"),
            false,
            (None::<K>, None::<u64>, None::<K>),
        ),
        endpoint(
            format!("backup_{name}_splits"),
            false,
            (None::<K>, 4u64, None::<u64>),
        ),
        endpoint(format!("validate_{name}"), false, (batch.clone(),)),
        endpoint(format!("restore_{name}"), true, (batch,)),
        endpoint(format!("clear_{name}"), true, ()),
    ]
}

fn member(n: u8) -> Principal {
    Principal::from_slice(&[n; 10])
}

/// Every structure's endpoints, each restore batch valid for a club
/// seeded with 5 of everything.
fn endpoints() -> Vec<Endpoint> {
    let config = Config {
        name: "restored".into(),
        max_members: 9,
        open: false,
    };
    let post = Post {
        author: member(9),
        text: "appended".into(),
        at_nanos: 1,
    };
    let event = Event {
        at_nanos: 2,
        actor: member(9),
        action: Action::Joined,
    };
    let job = Job {
        due_nanos: 20_000,
        id: 99,
        task: "last".into(),
    };
    let mut all = six("config", vec![(0u64, config)]);
    all.extend(six("members", vec![(member(9), ())]));
    all.extend(six("dues", vec![(member(9), 70u64)]));
    all.extend(six("posts", vec![(5u64, post)]));
    all.extend(six("audit", vec![(5u64, event)]));
    all.extend(six("jobs", vec![(5u64, job)]));
    all
}

#[test]
fn every_endpoint_of_every_structure_refuses_strangers_and_changes_nothing() {
    let cast = Cast::new();
    let mut canister = install("club", &cast);
    update::<_, Result<u64, String>>(&mut canister, cast.controller, "seed", (5u64,))
        .unwrap()
        .unwrap();
    update::<_, ()>(&mut canister, cast.controller, "authorize", (cast.admin,)).unwrap();
    let endpoints = endpoints();
    let exported: Vec<String> = canister.methods().into_iter().map(|(_, m)| m).collect();
    assert_eq!(endpoints.len(), 36);
    for endpoint in &endpoints {
        assert!(
            exported.contains(&endpoint.method),
            "{} is not exported",
            endpoint.method
        );
    }
    for (who, caller) in [("anonymous", cast.anonymous), ("stranger", cast.stranger)] {
        for endpoint in &endpoints {
            let before = canister.stable_memory().to_vec();
            let reject = call_raw(
                &mut canister,
                caller,
                endpoint.update,
                &endpoint.method,
                &endpoint.arg,
            )
            .expect_err(&format!("{who} was let into {}", endpoint.method));
            assert_eq!(
                reject.code,
                RejectCode::CanisterReject,
                "{}: {reject}",
                endpoint.method
            );
            assert!(
                reject.message.contains("is not authorized")
                    && reject.message.contains(&caller.to_text()),
                "{}: {}",
                endpoint.method,
                reject.message
            );
            assert!(
                canister.stable_memory() == &before[..],
                "{who}'s refused {} changed stable memory",
                endpoint.method
            );
        }
    }
    // The admin: each structure's pages, then its batch validated and
    // taken (Ok(1)), then cleared.
    for endpoint in &endpoints {
        let reply = call_raw(
            &mut canister,
            cast.admin,
            endpoint.update,
            &endpoint.method,
            &endpoint.arg,
        )
        .unwrap_or_else(|reject| panic!("the admin on {}: {reject}", endpoint.method));
        if endpoint.method.starts_with("restore_") || endpoint.method.starts_with("validate_") {
            let (answer,): (Result<u64, String>,) = candid::decode_args(&reply).unwrap();
            assert_eq!(answer, Ok(1), "{}", endpoint.method);
        }
    }
    let counts: (u64, u64, u64, u64, u64) =
        call(&mut canister, false, cast.admin, "counts", ()).unwrap();
    assert_eq!(counts, (0, 0, 0, 0, 0), "every structure cleared");
}

#[test]
fn a_refused_restore_into_an_untouched_club_writes_nothing() {
    let cast = Cast::new();
    let mut canister = install("club", &cast);
    let post = Post {
        author: member(1),
        text: "after a gap".into(),
        at_nanos: 1,
    };
    let refusals: Vec<(&str, Vec<u8>)> = vec![
        (
            "restore_posts",
            candid::encode_one(vec![(3u64, post)]).unwrap(),
        ),
        (
            "restore_config",
            candid::encode_one(vec![(1u64, Config::default())]).unwrap(),
        ),
        (
            "restore_audit",
            candid::encode_one(vec![(
                1u64,
                Event {
                    at_nanos: 1,
                    actor: member(1),
                    action: Action::Left,
                },
            )])
            .unwrap(),
        ),
    ];
    for (method, arg) in refusals {
        let answer: Result<u64, String> = unchanged(&mut canister, method, |canister| {
            let reply = canister
                .update(cast.controller, method, &arg)
                .result
                .unwrap();
            candid::decode_one(&reply).unwrap()
        });
        assert!(answer.is_err(), "{method} took a bad batch: {answer:?}");
    }
}

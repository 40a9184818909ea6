//! Property tests of every file the CLI reads: a manifest, a resume state,
//! a stable memory image, a backup file in either form. Arbitrary bytes,
//! and valid files truncated, with bytes flipped, and with values swapped
//! for values of other types, never make a parser panic; every refusal
//! names the file.
//!
//! Inputs come from a fixed seed (settable with `PARSER_TEST_SEED`) so a
//! failure can be replayed.

use backup_client::interface::Interface;
use backup_client::ops::raw::{describe_image, Manifest};
use backup_client::ops::restore::read_entries;
use backup_client::resume::{Resume, Start};
use serde_json::{json, Value};
use std::path::Path;

const CASES: usize = 400;

struct Rng(u64);

impl Rng {
    fn new(salt: u64) -> Self {
        let seed = std::env::var("PARSER_TEST_SEED")
            .ok()
            .and_then(|seed| seed.parse().ok())
            .unwrap_or(0xC0FF_EE00_D15E_A5E5u64);
        Rng((seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
    /// A value of a random JSON type, to put where another was expected.
    fn value(&mut self) -> Value {
        match self.below(10) {
            0 => Value::Null,
            1 => json!(true),
            2 => json!(-1),
            3 => json!(u64::MAX),
            4 => json!(1e308),
            5 => json!("zz"),
            6 => json!("ü\u{0}🙂".repeat(30)),
            7 => json!([]),
            8 => json!([[1, 2], {"a": []}]),
            _ => json!({ "x": [null] }),
        }
    }
}

/// `document` with one value, somewhere inside it, replaced by another.
fn swap_a_value(rng: &mut Rng, document: &Value) -> Value {
    fn swap(rng: &mut Rng, at: &mut Value) {
        let stop = rng.below(3) == 0;
        match at {
            Value::Array(items) if !items.is_empty() && !stop => {
                let i = rng.below(items.len());
                swap(rng, &mut items[i]);
            }
            Value::Object(map) if !map.is_empty() && !stop => {
                let key = map
                    .keys()
                    .nth(rng.below(map.len()))
                    .cloned()
                    .unwrap_or_default();
                if let Some(value) = map.get_mut(&key) {
                    swap(rng, value);
                }
            }
            _ => *at = rng.value(),
        }
    }
    let mut out = document.clone();
    swap(rng, &mut out);
    out
}

/// Arbitrary inputs derived from `valid`: random bytes, truncations, flipped
/// bytes, and (for JSON) values of the wrong type.
fn inputs(rng: &mut Rng, valid: &[u8]) -> Vec<Vec<u8>> {
    let json: Option<Value> = serde_json::from_slice(valid).ok();
    (0..CASES)
        .map(|_| match rng.below(4) {
            0 => {
                let len = rng.below(4096);
                rng.bytes(len)
            }
            1 => valid[..rng.below(valid.len() + 1)].to_vec(),
            2 => {
                let mut bytes = valid.to_vec();
                for _ in 0..=rng.below(8) {
                    let i = rng.below(bytes.len());
                    if let Some(byte) = bytes.get_mut(i) {
                        *byte ^= 1 << rng.below(8);
                    }
                }
                bytes
            }
            _ => match &json {
                Some(document) => serde_json::to_vec(&swap_a_value(rng, document)).unwrap(),
                None => {
                    let mut bytes = valid.to_vec();
                    let i = rng.below(bytes.len());
                    let len = rng.below(64);
                    let noise = rng.bytes(len);
                    bytes.splice(i..i, noise);
                    bytes
                }
            },
        })
        .collect()
}

/// Writes each input to `path` and checks `parse` neither panics nor
/// refuses without naming the file.
fn never_panics<T>(
    path: &Path,
    inputs: impl IntoIterator<Item = Vec<u8>>,
    parse: impl Fn(&Path) -> Result<T, String>,
) {
    let name = path.display().to_string();
    for (case, bytes) in inputs.into_iter().enumerate() {
        std::fs::write(path, &bytes).unwrap();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| parse(path)));
        match outcome {
            Err(_) => panic!(
                "case {case}: the parser of {name} panicked on {} bytes",
                bytes.len()
            ),
            Ok(Err(message)) => assert!(
                message.contains(&name),
                "case {case}: the error does not name the file: {message}"
            ),
            Ok(Ok(_)) => {}
        }
    }
}

#[test]
fn manifests() {
    let dir = tempfile::tempdir().unwrap();
    let digest = "ab".repeat(32);
    let valid = serde_json::to_vec(&json!({
        "image": "stable_memory.dat",
        "size": 200_000,
        "sha256": digest,
        "block_size": 65536,
        "blocks": vec![digest.clone(); 4],
    }))
    .unwrap();
    let path = dir.path().join("stable_memory.dat.sha256");
    std::fs::write(&path, &valid).unwrap();
    assert!(Manifest::read(&path).is_ok(), "the valid manifest reads");
    let mut rng = Rng::new(1);
    never_panics(&path, inputs(&mut rng, &valid), |path| {
        Manifest::read(path).map_err(|error| error.to_string())
    });
}

#[test]
fn resume_states() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.json.progress");
    let binding = json!({ "target": { "kind": "offline", "image": "/x.bin", "sha256": "aa" }, "map": "profiles" });
    let (resume, _) = Resume::<Value, Value>::open(&path, "backup", &binding).unwrap();
    resume
        .save(&binding, &json!({ "cursor": "k", "entries": 3 }))
        .unwrap();
    drop(resume);
    let valid = std::fs::read(&path).unwrap();
    assert!(matches!(
        Resume::<Value, Value>::open(&path, "backup", &binding)
            .unwrap()
            .1,
        Start::Resume(_)
    ));
    let mut rng = Rng::new(2);
    // A state that cannot be used is never an error: the command starts
    // over, and says why, naming the file.
    never_panics(&path, inputs(&mut rng, &valid), |path| {
        match Resume::<Value, Value>::open(path, "backup", &binding) {
            Ok((_, Start::Resume(_) | Start::Fresh { why: None })) => Ok(()),
            Ok((_, Start::Fresh { why: Some(why) })) => Err(why),
            Err(error) => Err(error.to_string()),
        }
    });
}

#[test]
fn images() {
    let dir = tempfile::tempdir().unwrap();
    // A real image: the profiles canister's, made by the runner.
    let wasm = example_wasm::bytes("profiles");
    let mut canister = canister_runner::Canister::install(&wasm, Default::default()).unwrap();
    let who = candid::Principal::from_slice(&[3; 29]);
    let arg = candid::encode_one(json_profile()).unwrap();
    canister.update(who, "set_profile", &arg).result.unwrap();
    let image = canister.stable_memory().to_vec();
    let path = dir.path().join("stable_memory.bin");
    std::fs::write(&path, &image).unwrap();
    assert!(describe_image(&path).is_ok());
    // Mutations of the header region, where the layout is read from.
    let header = &image[..backup_runtime::image::HEADER_LEN + 1000];
    let mut rng = Rng::new(3);
    // Made one at a time as they are parsed: 400 whole images at once
    // would take gigabytes.
    let mutated = inputs(&mut rng, header).into_iter().map(|mut head| {
        let keep = head.len().min(image.len());
        let mut whole = image.clone();
        whole[..keep].copy_from_slice(&head[..keep]);
        if rng.below(4) == 0 {
            head.truncate(0);
            let len = rng.below(3) * 65536;
            whole.truncate(len);
        }
        whole
    });
    never_panics(&path, mutated, |path| {
        describe_image(path).map_err(|error| error.to_string())
    });
    // The header-only parse a live load uses, on arbitrary lengths.
    for _ in 0..CASES {
        let len = rng.below(200_000);
        let bytes = rng.bytes(len);
        let _ = backup_runtime::Layout::parse_header(&bytes, rng.next());
        let _ = backup_runtime::MapHeader::parse(7, &bytes[..len.min(40)]);
    }
}

#[derive(candid::CandidType)]
struct Profile {
    updated_time_msecs: Option<u64>,
    username: Option<String>,
    password: Option<String>,
    email: Option<String>,
}

fn json_profile() -> Profile {
    Profile {
        updated_time_msecs: Some(1),
        username: Some("three".into()),
        password: None,
        email: Some("3@example.org".into()),
    }
}

const LEDGER_LIKE: &str = r#"
    type Kind = variant { Checking; Savings : record { rate : nat16 }; Frozen : record { reason : text } };
    type Account = record { owner : principal; balance : nat64; kind : Kind; limits : opt record { daily : nat64; monthly : opt nat64 }; memo : opt blob; score : float64; delta : int };
    type Page = record { entries : vec record { nat64; Account }; next : opt nat64; len : nat64; skipped : vec nat64 };
    service : {
        backup_accounts_page : (opt nat64, opt nat64) -> (Page) query;
        restore_accounts : (vec record { nat64; Account }) -> (variant { Ok : nat64; Err : text });
    }"#;

#[test]
fn backup_files() {
    let dir = tempfile::tempdir().unwrap();
    let interface = Interface::parse(LEDGER_LIKE).unwrap();
    let types = interface.map("accounts").unwrap();
    let account = |n: u64| {
        json!({
            "owner": "aaaaa-aa",
            "balance": n.to_string(),
            "kind": { "Savings": { "rate": 150 } },
            "limits": [{ "daily": "18446744073709551615", "monthly": [] }],
            "memo": ["00ff"],
            "score": 0.5,
            "delta": "-12345678901234567890",
        })
    };
    let lossless = serde_json::to_vec(&json!({
        "format": "ic-backup/lossless-1",
        "map": "accounts",
        "entries": (1..4).map(|n| json!([n.to_string(), account(n)])).collect::<Vec<_>>(),
    }))
    .unwrap();
    let path = dir.path().join("accounts.json");
    std::fs::write(&path, &lossless).unwrap();
    read_entries(&interface, &types, &path, None).expect("the valid backup reads");
    let article = serde_json::to_vec(&json!([[1, { "owner": "aaaaa-aa", "balance": 5, "kind": { "Checking": null }, "limits": null, "memo": null, "score": 1.0, "delta": -3 }]])).unwrap();
    let mut rng = Rng::new(4);
    for valid in [lossless, article] {
        never_panics(&path, inputs(&mut rng, &valid), |path| {
            read_entries(&interface, &types, path, None).map_err(|error| error.to_string())
        });
    }
}

//! Restore batches of `CandidBytes` values: the values' bytes are taken from
//! the message as they are, and the map ends up byte for byte as when every
//! value is decoded and encoded again; any message not in that form is
//! decoded, with the same result and the same errors.

use backup_runtime::endpoint::{self, BackupMap, Probe, ViaDecoding, ViaStoredBytes};
use backup_runtime::CandidKey;
use candid::{CandidType, Deserialize};
use ic_stable_structures::storable::Bound;
use ic_stable_structures::{Memory, StableBTreeMap, Storable, VectorMemory};
use std::borrow::Cow;
use std::cell::{Cell, RefCell};

#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
struct Note {
    title: String,
    body: Option<String>,
    stars: u8,
}

thread_local! {
    /// How many values were encoded (`to_bytes` / `into_bytes`).
    static ENCODED: Cell<usize> = const { Cell::new(0) };
}

impl Storable for Note {
    fn to_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.clone().into_bytes())
    }
    fn into_bytes(self) -> Vec<u8> {
        ENCODED.with(|count| count.set(count.get() + 1));
        candid::encode_one(&self).unwrap()
    }
    fn from_bytes(bytes: Cow<[u8]>) -> Self {
        candid::decode_one(&bytes).unwrap()
    }
    const BOUND: Bound = Bound::Bounded {
        max_size: 200,
        is_fixed_size: false,
    };
}

impl backup_runtime::CandidBytes for Note {}

/// A map of `$value`s keyed by `u64`, in a memory of its own.
macro_rules! note_map {
    ($marker:ident, $memory:ident, $map:ident) => {
        value_map!($marker, $memory, $map, Note);
    };
}

macro_rules! value_map {
    ($marker:ident, $memory:ident, $map:ident, $value:ty) => {
        thread_local! {
            static $memory: VectorMemory = VectorMemory::default();
            static $map: RefCell<StableBTreeMap<u64, $value, VectorMemory>> =
                RefCell::new(StableBTreeMap::init($memory.with(Clone::clone)));
        }

        struct $marker;

        impl BackupMap for $marker {
            type Key = u64;
            type Value = $value;
            type Memory = VectorMemory;
            type Wire = u64;
            type Codec = CandidKey;
            const MEMORY_ID: u8 = 0;
            const RUNTIME_MANAGER: bool = false;

            fn memory() -> VectorMemory {
                $memory.with(Clone::clone)
            }

            fn with<R>(
                f: impl FnOnce(&RefCell<StableBTreeMap<u64, $value, VectorMemory>>) -> R,
            ) -> R {
                $map.with(f)
            }
        }
    };
}

note_map!(Spliced, SPLICED_MEMORY, SPLICED);
note_map!(Decoded, DECODED_MEMORY, DECODED);

fn note(i: u64) -> Note {
    Note {
        title: format!("note {i} ✓"),
        body: (!i.is_multiple_of(3)).then(|| "b".repeat(i as usize % 90)),
        stars: (i % 6) as u8,
    }
}

fn memory_bytes<M: BackupMap<Memory = VectorMemory>>() -> Vec<u8> {
    let memory = M::memory();
    let mut bytes = vec![0; (memory.size() * 65536) as usize];
    memory.read(0, &mut bytes);
    bytes
}

/// Restores `arg` into both maps, one through the stored bytes (falling
/// back to decoding), one decoding every value; returns both answers.
fn restore_both(arg: &[u8]) -> (Result<u64, String>, Result<u64, String>) {
    let spliced = ViaStoredBytes::decode_batch(&Probe::<Spliced>::new(), arg)
        .and_then(endpoint::restore::<Spliced>);
    let decoded = ViaDecoding::decode_batch(&&Probe::<Decoded>::new(), arg)
        .and_then(endpoint::restore::<Decoded>);
    (spliced, decoded)
}

fn validate_both(arg: &[u8]) -> (Result<u64, String>, Result<u64, String>) {
    let spliced = ViaStoredBytes::decode_batch(&Probe::<Spliced>::new(), arg)
        .and_then(endpoint::validate::<Spliced>);
    let decoded = ViaDecoding::decode_batch(&&Probe::<Decoded>::new(), arg)
        .and_then(endpoint::validate::<Decoded>);
    (spliced, decoded)
}

/// A note type with a field more: its batches decode as notes (the field is
/// dropped) but do not carry the notes' own bytes.
#[derive(CandidType, Deserialize, Clone)]
struct WiderNote {
    title: String,
    body: Option<String>,
    stars: u8,
    pinned: bool,
}

#[test]
fn stored_bytes_restore_the_map_exactly_as_decoding_does() {
    // Batches in the maps' own types: nothing encoded again.
    for start in [0u64, 500, 250] {
        let batch: Vec<(u64, Note)> = (start..start + 300)
            .map(|i| (i * 7 % 1000, note(i)))
            .collect();
        let arg = candid::encode_one(&batch).unwrap();
        ENCODED.with(|count| count.set(0));
        let spliced = ViaStoredBytes::decode_batch(&Probe::<Spliced>::new(), &arg)
            .and_then(endpoint::restore::<Spliced>);
        assert_eq!(spliced, Ok(300));
        assert_eq!(ENCODED.with(Cell::get), 0, "no value encoded again");
        let decoded = ViaDecoding::decode_batch(&&Probe::<Decoded>::new(), &arg)
            .and_then(endpoint::restore::<Decoded>);
        assert_eq!(decoded, Ok(300));
        assert!(
            ENCODED.with(Cell::get) >= 300,
            "the usual path encodes each"
        );
        assert!(memory_bytes::<Spliced>() == memory_bytes::<Decoded>());
    }
    // The map's static reads what was inserted through the stored bytes.
    SPLICED.with(|map| {
        let map = map.borrow();
        assert_eq!(map.get(&(7 * 7)), Some(note(7)));
        assert_eq!(map.len(), DECODED.with(|map| map.borrow().len()));
    });

    // A wider type, and a length written longer than needed: decoded.
    let wider: Vec<(u64, WiderNote)> = (0..50)
        .map(|i| {
            let Note { title, body, stars } = note(i + 2000);
            (
                i * 13,
                WiderNote {
                    title,
                    body,
                    stars,
                    pinned: true,
                },
            )
        })
        .collect();
    let mut overlong = candid::encode_one(vec![(5u64, note(1))]).unwrap();
    let text = "note 1 ✓".as_bytes();
    let title = overlong
        .windows(text.len())
        .position(|w| w == text)
        .unwrap()
        - 1;
    assert_eq!(overlong[title] as usize, text.len());
    overlong.splice(title..title + 1, [overlong[title] | 0x80, 0x00]);
    for arg in [candid::encode_one(&wider).unwrap(), overlong] {
        ENCODED.with(|count| count.set(0));
        let (spliced, decoded) = restore_both(&arg);
        assert!(
            spliced.is_ok() && spliced == decoded,
            "{spliced:?} {decoded:?}"
        );
        assert!(ENCODED.with(Cell::get) > 0, "decoded and encoded again");
        assert!(memory_bytes::<Spliced>() == memory_bytes::<Decoded>());
    }
    SPLICED.with(|map| assert_eq!(map.borrow().get(&5), Some(note(1))));
}

#[test]
fn refused_batches_are_refused_alike_and_change_nothing() {
    let seed: Vec<(u64, Note)> = (0..20).map(|i| (i, note(i))).collect();
    let (spliced, decoded) = restore_both(&candid::encode_one(&seed).unwrap());
    assert_eq!((spliced, decoded), (Ok(20), Ok(20)));
    let before = memory_bytes::<Spliced>();

    let duplicate = vec![(100u64, note(1)), (101, note(2)), (100, note(3))];
    let over_bound = vec![
        (200u64, note(1)),
        (
            201,
            Note {
                title: "x".repeat(300),
                body: None,
                stars: 0,
            },
        ),
    ];
    for arg in [
        candid::encode_one(&duplicate).unwrap(),
        candid::encode_one(&over_bound).unwrap(),
    ] {
        let (spliced, decoded) = restore_both(&arg);
        assert!(
            spliced.is_err() && spliced == decoded,
            "{spliced:?} {decoded:?}"
        );
        let (spliced, decoded) = validate_both(&arg);
        assert!(
            spliced.is_err() && spliced == decoded,
            "{spliced:?} {decoded:?}"
        );
        assert!(memory_bytes::<Spliced>() == before);
    }
    let error = restore_both(&candid::encode_one(&duplicate).unwrap())
        .0
        .unwrap_err();
    assert!(
        error.contains("entry 2") && error.contains("entry 0"),
        "{error}"
    );

    // Not a batch at all, or cut short: the decoder's error, said as such.
    let whole = candid::encode_one(&seed).unwrap();
    for arg in [
        candid::encode_one("not a batch").unwrap(),
        whole[..whole.len() - 3].to_vec(),
    ] {
        let (spliced, decoded) = restore_both(&arg);
        let error = spliced.unwrap_err();
        assert_eq!(Err(error.clone()), decoded);
        assert!(error.starts_with("expected a restore batch"), "{error}");
        assert!(memory_bytes::<Spliced>() == before);
    }
}

/// `Storable` as Candid, `CandidBytes`, for the value types below.
macro_rules! candid_storable {
    ($value:ty) => {
        impl Storable for $value {
            fn to_bytes(&self) -> Cow<'_, [u8]> {
                Cow::Owned(candid::encode_one(self).unwrap())
            }
            fn into_bytes(self) -> Vec<u8> {
                candid::encode_one(&self).unwrap()
            }
            fn from_bytes(bytes: Cow<[u8]>) -> Self {
                candid::decode_one(&bytes).unwrap()
            }
            const BOUND: Bound = Bound::Unbounded;
        }
        impl backup_runtime::CandidBytes for $value {}
    };
}

/// A value whose `Deserialize` is stricter than its Candid type: `hash` is
/// `blob` on the wire, exactly 4 bytes in Rust.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
struct Doc {
    hash: [u8; 4],
    n: u8,
}
candid_storable!(Doc);
value_map!(Docs, DOCS_MEMORY, DOCS, Doc);

/// The same Candid type, as a client holding any blob writes it.
#[derive(CandidType, Deserialize)]
struct AnyDoc {
    #[serde(with = "serde_bytes")]
    hash: Vec<u8>,
    n: u8,
}

fn restore_docs(batch: &[(u64, AnyDoc)]) -> (Result<u64, String>, Result<u64, String>) {
    let arg = candid::encode_one(batch).unwrap();
    let probe = Probe::<Docs>::new();
    let validated = ViaStoredBytes::decode_batch(&probe, &arg).and_then(endpoint::validate::<Docs>);
    let restored = ViaStoredBytes::decode_batch(&probe, &arg).and_then(endpoint::restore::<Docs>);
    (validated, restored)
}

/// A value the map's type cannot read (a 3-byte hash for `[u8; 4]`) is
/// refused by `validate_` and `restore_`, naming the entry and the
/// decoder's message, and the map's memory is byte for byte as it was.
#[test]
fn a_value_its_type_cannot_read_is_refused_and_nothing_is_written() {
    let good = |n: u8| AnyDoc {
        hash: vec![n; 4],
        n,
    };
    assert_eq!(restore_docs(&[(7, good(7))]), (Ok(1), Ok(1)));
    let before = memory_bytes::<Docs>();
    for batch in [
        vec![(
            1,
            AnyDoc {
                hash: vec![1, 2, 3],
                n: 9,
            },
        )],
        vec![
            (2, good(2)),
            (
                1,
                AnyDoc {
                    hash: vec![1, 2, 3, 4, 5],
                    n: 9,
                },
            ),
        ],
    ] {
        let bad = batch.len() - 1;
        let (validated, restored) = restore_docs(&batch);
        for answer in [validated, restored] {
            let error = answer.unwrap_err();
            assert!(
                error.contains(&format!("entry {bad}:"))
                    && error.contains("does not decode as the map's value type")
                    && (error.contains("invalid length 3, expected an array of length 4")
                        || error.contains("Trailing value"))
                    && error.contains("nothing was restored"),
                "{error}"
            );
        }
        assert!(memory_bytes::<Docs>() == before, "nothing written");
    }
    DOCS.with(|map| assert_eq!(map.borrow().get(&7).map(|d| d.n), Some(7)));
}

/// A value whose `Deserialize` normalises (a map with a key twice and out
/// of order) is stored as the canister itself would write it, not as sent.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
struct Tally {
    counts: std::collections::BTreeMap<String, u64>,
    span: std::time::Duration,
}
candid_storable!(Tally);
value_map!(Tallies, TALLIES_MEMORY, TALLIES, Tally);

/// The same Candid type, as any client may write it.
#[derive(CandidType)]
struct AnyTally {
    counts: Vec<(String, u64)>,
    span: AnySpan,
}

#[derive(CandidType)]
struct AnySpan {
    secs: u64,
    nanos: u32,
}

#[test]
fn a_value_its_type_normalises_is_stored_as_the_canister_writes_it() {
    let sent = AnyTally {
        counts: vec![("b".into(), 2), ("a".into(), 1), ("b".into(), 3)],
        span: AnySpan {
            secs: 1,
            nanos: 2_500_000_000,
        },
    };
    let arg = candid::encode_one(vec![
        (1u64, sent),
        (
            2u64,
            AnyTally {
                counts: vec![("x".into(), 9)],
                span: AnySpan { secs: 3, nanos: 4 },
            },
        ),
    ])
    .unwrap();
    let restored = ViaStoredBytes::decode_batch(&Probe::<Tallies>::new(), &arg)
        .and_then(endpoint::restore::<Tallies>);
    assert_eq!(restored, Ok(2));
    let stored =
        StableBTreeMap::<u64, backup_runtime::page::Stored<Tally>, _>::load(Tallies::memory());
    let read = TALLIES.with(|map| map.borrow().get(&1)).unwrap();
    assert_eq!(
        read,
        Tally {
            counts: [("a".to_string(), 1), ("b".to_string(), 3)].into(),
            span: std::time::Duration::new(3, 500_000_000),
        }
    );
    for key in [1u64, 2] {
        let value = TALLIES.with(|map| map.borrow().get(&key)).unwrap();
        assert_eq!(
            stored.get(&key).unwrap().to_bytes().as_ref(),
            value.to_bytes().as_ref(),
            "key {key}: the canister's own encoding"
        );
    }
}

//! Restore is all or nothing; raw access stays in bounds.

use backup_runtime::limits::{MAX_DIGEST_RANGE, MAX_RAW_READ, MIN_DIGEST_BLOCK, WASM_PAGE_SIZE};
use backup_runtime::raw::{stable_digest, stable_read, stable_size, stable_write, RawError};
use backup_runtime::restore::{clear, restore, RestoreError};
use backup_runtime::{CandidKey, TextKey};
use candid::Principal;
use ic_stable_structures::{Memory, StableBTreeMap, VectorMemory};
use sha2::{Digest, Sha256};

fn snapshot(memory: &VectorMemory) -> Vec<u8> {
    memory.borrow().clone()
}

#[test]
fn a_batch_with_one_bad_key_changes_nothing() {
    let memory = VectorMemory::default();
    let mut map: StableBTreeMap<Principal, u64, _> = StableBTreeMap::init(memory.clone());
    map.insert(Principal::from_slice(&[9; 29]), 9);
    let before = snapshot(&memory);
    let good = Principal::from_slice(&[1; 29]).to_text();
    let batch = vec![
        (good.clone(), 1),
        ("2vxsx-fae-not-a-principal".to_string(), 2),
        (good, 3),
    ];
    let error = restore::<_, _, _, TextKey>(&mut map, batch, None).unwrap_err();
    assert!(
        matches!(error, RestoreError::BadKey { index: 1, .. }),
        "{error}"
    );
    assert!(
        error.to_string().contains("entry 1") && error.to_string().contains("nothing was restored")
    );
    assert_eq!(
        snapshot(&memory),
        before,
        "stable memory is byte for byte what it was"
    );
    assert_eq!(map.len(), 1);
}

#[test]
fn a_good_batch_inserts_everything_and_overwrites() {
    let memory = VectorMemory::default();
    let mut map: StableBTreeMap<u64, u64, _> = StableBTreeMap::init(memory.clone());
    map.insert(1, 100);
    let restored =
        restore::<_, _, _, CandidKey>(&mut map, vec![(1, 1), (2, 2), (3, 3)], None).unwrap();
    assert_eq!(restored, 3);
    assert_eq!(
        map.iter().map(|e| e.into_pair()).collect::<Vec<_>>(),
        vec![(1, 1), (2, 2), (3, 3)]
    );
    assert_eq!(clear(&mut map, memory.clone()), 3);
    assert!(map.is_empty());
    assert_eq!(clear(&mut map, memory), 0);
}

/// A value whose `Storable` bound is 4 bytes.
#[derive(candid::CandidType, candid::Deserialize, Clone, Debug, PartialEq)]
struct Tag(String);

impl ic_stable_structures::Storable for Tag {
    fn to_bytes(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Borrowed(self.0.as_bytes())
    }
    fn into_bytes(self) -> Vec<u8> {
        self.0.into_bytes()
    }
    fn from_bytes(bytes: std::borrow::Cow<[u8]>) -> Self {
        Tag(String::from_utf8_lossy(&bytes).into_owned())
    }
    const BOUND: ic_stable_structures::storable::Bound =
        ic_stable_structures::storable::Bound::Bounded {
            max_size: 4,
            is_fixed_size: false,
        };
}

#[test]
fn a_value_over_its_storable_bound_is_refused_before_any_insert() {
    let memory = VectorMemory::default();
    let mut map: StableBTreeMap<u64, Tag, _> = StableBTreeMap::init(memory.clone());
    let before = snapshot(&memory);
    let batch = vec![(1, Tag("ok".into())), (2, Tag("too long".into()))];
    let error = restore::<_, _, _, CandidKey>(&mut map, batch, None).unwrap_err();
    assert_eq!(
        error,
        RestoreError::OverBound {
            index: 1,
            key: None,
            part: "value",
            bytes: 8,
            max: 4
        }
    );
    assert!(error.to_string().contains("at most 4 bytes"), "{error}");
    assert_eq!(snapshot(&memory), before);
}

#[test]
fn reads_are_bounded_and_overflow_is_caught() {
    let memory = VectorMemory::default();
    memory.grow(2);
    assert_eq!(stable_size(&memory), 2 * WASM_PAGE_SIZE);
    memory.write(100, b"hello");
    assert_eq!(stable_read(&memory, 100, 5).unwrap(), b"hello");
    assert_eq!(stable_read(&memory, 2 * WASM_PAGE_SIZE, 0).unwrap(), b"");
    assert_eq!(
        stable_read(&memory, 2 * WASM_PAGE_SIZE - 1, 2),
        Err(RawError::OutOfRange {
            offset: 2 * WASM_PAGE_SIZE - 1,
            length: 2,
            size: 2 * WASM_PAGE_SIZE
        })
    );
    assert_eq!(
        stable_read(&memory, u64::MAX, 2),
        Err(RawError::Overflow {
            offset: u64::MAX,
            length: 2
        })
    );
    assert_eq!(
        stable_read(&memory, 0, MAX_RAW_READ + 1),
        Err(RawError::TooLong {
            length: MAX_RAW_READ + 1,
            max: MAX_RAW_READ
        })
    );
    let message = stable_read(&memory, 131_000, 1000).unwrap_err().to_string();
    assert!(
        message.contains("131072 bytes") && message.contains("offset 131000"),
        "{message}"
    );
}

#[test]
fn writes_grow_memory_from_its_end_and_refuse_holes_and_overflow_without_change() {
    let memory = VectorMemory::default();
    stable_write(&memory, 0, &[7; 10]).unwrap();
    assert_eq!(memory.size(), 1);
    // Starting exactly at the end grows memory by what the write needs.
    stable_write(&memory, WASM_PAGE_SIZE, &[8; 10]).unwrap();
    stable_write(&memory, 2 * WASM_PAGE_SIZE - 1, b"abc").unwrap();
    assert_eq!(memory.size(), 3);
    assert_eq!(
        stable_read(&memory, 2 * WASM_PAGE_SIZE - 1, 3).unwrap(),
        b"abc"
    );
    let before = snapshot(&memory);
    assert_eq!(
        stable_write(&memory, u64::MAX - 1, b"abc"),
        Err(RawError::Overflow {
            offset: u64::MAX - 1,
            length: 3
        })
    );
    // 4 bytes at 100 GiB would have grown memory by 100 GiB of zeros.
    let error = stable_write(&memory, 100 << 30, b"abcd").unwrap_err();
    assert_eq!(
        error,
        RawError::Hole {
            offset: 100 << 30,
            size: 3 * WASM_PAGE_SIZE
        }
    );
    assert!(error.to_string().contains("at most at the end"), "{error}");
    assert!(stable_write(&memory, 3 * WASM_PAGE_SIZE + 1, b"a").is_err());
    assert_eq!(snapshot(&memory), before);
}

#[test]
fn digests_are_sha256_of_each_block() {
    let memory = VectorMemory::default();
    memory.grow(3);
    for page in 0..3u8 {
        memory.write(u64::from(page) * WASM_PAGE_SIZE, &[page + 1; 1000]);
    }
    let bytes = snapshot(&memory);
    let block = 40_000;
    let digests = stable_digest(&memory, 5, bytes.len() as u64 - 5, block).unwrap();
    let expected: Vec<[u8; 32]> = bytes[5..]
        .chunks(block as usize)
        .map(|chunk| Sha256::digest(chunk).into())
        .collect();
    assert_eq!(digests, expected);
    assert_eq!(digests.len(), 5, "the last block is shorter");

    // Blocks of zeros, blocks whose first megabyte is zeros (read in 1 MiB
    // pieces), a last block of zeros shorter than the others.
    let sparse = VectorMemory::default();
    sparse.grow(80);
    sparse.write(1_500_000, &[7]);
    sparse.write(3 * 1024 * 1024 + 5, &[9]);
    let bytes = snapshot(&sparse);
    for block in [
        MIN_DIGEST_BLOCK,
        65536,
        1 << 20,
        3 << 20,
        3_000_000,
        1_000_000,
    ] {
        let digests = stable_digest(&sparse, 0, bytes.len() as u64, block).unwrap();
        let expected: Vec<[u8; 32]> = bytes
            .chunks(block as usize)
            .map(|chunk| Sha256::digest(chunk).into())
            .collect();
        assert!(digests == expected, "blocks of {block}");
    }

    assert!(matches!(
        stable_digest(&memory, 0, 10, MIN_DIGEST_BLOCK - 1),
        Err(RawError::BadBlockSize { .. })
    ));
    assert!(matches!(
        stable_digest(&memory, 0, MAX_DIGEST_RANGE + 1, 65536),
        Err(RawError::TooLong { .. })
    ));
    assert!(matches!(
        stable_digest(&memory, 1, bytes.len() as u64, 65536),
        Err(RawError::OutOfRange { .. })
    ));
    assert!(matches!(
        stable_digest(&memory, u64::MAX, 1, 65536),
        Err(RawError::Overflow { .. })
    ));
}

/// A map ic-stable-structures 0.5 wrote keeps each value in a slot of the
/// size it was created with: its header (`BTR`, version 1) says so, and a
/// larger value is refused before anything is written.
#[test]
fn a_v1_map_refuses_what_its_slots_cannot_hold() {
    use backup_runtime::restore::V1Layout;
    let memory = VectorMemory::default();
    memory.grow(1);
    let mut header = b"BTR\x01".to_vec();
    header.extend_from_slice(&32u32.to_le_bytes());
    header.extend_from_slice(&8u32.to_le_bytes());
    memory.write(0, &header);
    let layout = V1Layout::of(&memory);
    assert_eq!(
        layout,
        Some(V1Layout {
            max_key_size: 32,
            max_value_size: 8
        })
    );
    let batch = vec![(1u64, "12345678".to_string()), (2, "123456789".to_string())];
    let error =
        backup_runtime::restore::validate::<u64, String, CandidKey>(batch, layout).unwrap_err();
    assert!(
        matches!(
            error,
            RestoreError::OverV1Layout {
                index: 1,
                bytes: 9,
                max: 8,
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("ic-backup migrate"), "{error}");
    // Current maps have no such slots.
    let current = VectorMemory::default();
    let _map: StableBTreeMap<u64, String, _> = StableBTreeMap::init(current.clone());
    assert_eq!(V1Layout::of(&current), None);
}

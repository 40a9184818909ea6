//! The writer against ic-stable-structures itself: what it writes, the
//! library reads back as its own structures (over a `MemoryManager` and on
//! the whole stable memory); what it refuses leaves nothing half written.

use super::*;
use ic_stable_structures::{StableMinHeap, StableVec};

/// The image of `memory`.
fn image_of(memory: &DefaultMemoryImpl) -> Vec<u8> {
    let mut out = vec![0; (memory.size() * 65536) as usize];
    memory.read(0, &mut out);
    out
}

/// `image` as a memory.
fn memory_of(image: &[u8]) -> DefaultMemoryImpl {
    let memory = DefaultMemoryImpl::default();
    memory.grow(image.len() as u64 / 65536);
    memory.write(0, image);
    memory
}

fn never_same(_: u64, _: &[u8], _: &[u8]) -> Result<bool, NotNative> {
    Ok(false)
}

fn bytes_same(_: u64, a: &[u8], b: &[u8]) -> Result<bool, NotNative> {
    Ok(a == b)
}

fn place(kind: Kind, memory_id: Option<u8>, key: Stored) -> Place {
    Place {
        kind,
        memory_id,
        data_memory_id: memory_id.map(|id| id + 1),
        key,
    }
}

#[test]
fn a_map_of_principals_written_is_read_by_the_library_in_its_order() {
    let stable = DefaultMemoryImpl::default();
    let manager = MemoryManager::init(stable.clone());
    let mut map: StableBTreeMap<candid::Principal, u64, _> =
        StableBTreeMap::init(manager.get(MemoryId::new(2)));
    map.insert(candid::Principal::from_slice(&[29; 29]), 1);
    drop(map);
    drop(manager);
    // Principals of every length, so their order (length first) matters.
    let entries: Vec<(Vec<u8>, Vec<u8>)> = (1..=29u8)
        .rev()
        .map(|len| {
            (
                vec![len; len as usize],
                u64::from(len).to_be_bytes().to_vec(),
            )
        })
        .collect();
    let (image, held) = write(
        &image_of(&stable),
        &place(Kind::Map, Some(2), Stored::Principal),
        &Entries::Keyed(entries),
        false,
        &never_same,
    )
    .unwrap();
    assert_eq!(held, 29, "the entry under the key of 29 bytes was replaced");
    let manager = MemoryManager::init(memory_of(&image));
    let map: StableBTreeMap<candid::Principal, u64, _> =
        StableBTreeMap::init(manager.get(MemoryId::new(2)));
    let read: Vec<(usize, u64)> = map
        .iter()
        .map(|e| (e.key().as_slice().len(), e.value()))
        .collect();
    let expected: Vec<(usize, u64)> = (1..=29).map(|len| (len, len as u64)).collect();
    assert_eq!(read, expected);
}

#[test]
fn a_vec_on_the_whole_stable_memory_takes_sets_and_appends_within_its_slots() {
    let stable = DefaultMemoryImpl::default();
    let vec: StableVec<u64, _> = StableVec::init(stable.clone());
    for n in 0..3u64 {
        vec.push(&n);
    }
    drop(vec);
    let before = image_of(&stable);
    let entries = Entries::Indexed(
        [(1u64, 10u64), (3, 30), (4, 40)]
            .iter()
            .map(|(i, v)| (*i, v.to_be_bytes().to_vec()))
            .collect(),
    );
    let (image, held) = write(
        &before,
        &place(Kind::Vec, None, Stored::Nat(8)),
        &entries,
        false,
        &never_same,
    )
    .unwrap();
    assert_eq!(held, 5);
    let vec: StableVec<u64, _> = StableVec::init(memory_of(&image));
    assert_eq!(vec.iter().collect::<Vec<_>>(), vec![0, 10, 2, 30, 40]);
    // A gap, or a value over the slot, is refused.
    for (entries, expected) in [
        (vec![(6u64, 1u64.to_be_bytes().to_vec())], "past the end"),
        (vec![(0, vec![1; 9])], "exactly 8 bytes"),
    ] {
        let error = write(
            &before,
            &place(Kind::Vec, None, Stored::Nat(8)),
            &Entries::Indexed(entries),
            false,
            &never_same,
        )
        .unwrap_err();
        assert!(error.0.contains(expected), "{error}");
    }
}

#[test]
fn a_log_and_a_heap_only_grow_and_take_back_what_they_hold() {
    let stable = DefaultMemoryImpl::default();
    let manager = MemoryManager::init(stable.clone());
    let log: StableLog<Vec<u8>, _, _> =
        StableLog::init(manager.get(MemoryId::new(4)), manager.get(MemoryId::new(5)));
    log.append(&b"first".to_vec()).unwrap();
    let mut heap: StableMinHeap<u32, _> = StableMinHeap::init(manager.get(MemoryId::new(6)));
    heap.push(&5);
    drop((log, heap, manager));
    let image = image_of(&stable);
    let taken = Entries::Indexed(vec![(0, b"first".to_vec()), (1, b"second".to_vec())]);
    let (image, held) = write(
        &image,
        &place(Kind::Log, Some(4), Stored::Nat(8)),
        &taken,
        false,
        &bytes_same,
    )
    .unwrap();
    assert_eq!(held, 2);
    let heap_entries = Entries::Indexed(vec![
        (0, 5u32.to_be_bytes().to_vec()),
        (1, 7u32.to_be_bytes().to_vec()),
    ]);
    let heap_place = Place {
        kind: Kind::MinHeap,
        memory_id: Some(6),
        data_memory_id: None,
        key: Stored::Nat(8),
    };
    let (image, held) = write(&image, &heap_place, &heap_entries, false, &bytes_same).unwrap();
    assert_eq!(held, 2);
    let manager = MemoryManager::init(memory_of(&image));
    let log: StableLog<Vec<u8>, _, _> =
        StableLog::init(manager.get(MemoryId::new(4)), manager.get(MemoryId::new(5)));
    assert_eq!(
        log.iter().collect::<Vec<_>>(),
        vec![b"first".to_vec(), b"second".to_vec()]
    );
    let mut heap: StableMinHeap<u32, _> = StableMinHeap::init(manager.get(MemoryId::new(6)));
    assert_eq!((heap.pop(), heap.pop()), (Some(5), Some(7)));
    // Another value at a held index is refused.
    let other = Entries::Indexed(vec![(0, b"other".to_vec())]);
    let error = write(
        &image,
        &place(Kind::Log, Some(4), Stored::Nat(8)),
        &other,
        false,
        &bytes_same,
    )
    .unwrap_err();
    assert!(error.0.contains("already holds another value"), "{error}");
}

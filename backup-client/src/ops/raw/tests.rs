//! `inspect` names each structure of ic-stable-structures in an image the
//! library itself wrote, with what its header says of its size.

use super::*;
use ic_stable_structures::memory_manager::{MemoryId, MemoryManager};
use ic_stable_structures::{
    DefaultMemoryImpl, StableBTreeMap, StableCell, StableLog, StableMinHeap, StableVec,
};

#[test]
fn inspect_names_every_structure_with_its_size() {
    let stable = DefaultMemoryImpl::default();
    let manager = MemoryManager::init(stable.clone());
    let memory = |id: u8| manager.get(MemoryId::new(id));
    let mut map: StableBTreeMap<u64, u64, _> = StableBTreeMap::init(memory(0));
    map.insert(1, 2);
    let _cell = StableCell::init(memory(1), "configuration".to_string());
    let vec: StableVec<u64, _> = StableVec::init(memory(2));
    for n in 0..7 {
        vec.push(&n);
    }
    let log: StableLog<Vec<u8>, _, _> = StableLog::init(memory(3), memory(4));
    for n in 0..5u8 {
        log.append(&vec![n; 10]).unwrap();
    }
    let mut heap: StableMinHeap<u32, _> = StableMinHeap::init(memory(5));
    for n in [5, 3, 9] {
        heap.push(&n);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("image.bin");
    std::fs::write(&path, stable.borrow().as_slice()).unwrap();
    let summary = describe_image(&path).unwrap();
    let memories = summary["memories"].as_array().unwrap();
    let of = |id: u64| {
        memories
            .iter()
            .find(|memory| memory["id"] == id)
            .unwrap_or_else(|| panic!("no memory {id}: {summary}"))
    };
    assert_eq!(of(0)["btreemap"]["entries"], 1);
    assert_eq!(of(1)["structure"]["kind"], "StableCell");
    assert_eq!(of(1)["structure"]["value_bytes"], "configuration".len());
    assert_eq!(of(2)["structure"]["kind"], "StableVec");
    assert_eq!(of(2)["structure"]["elements"], 7);
    assert_eq!(of(2)["structure"]["max_element_bytes"], 8);
    assert_eq!(of(3)["structure"]["kind"], "StableLog index");
    assert_eq!(of(3)["structure"]["entries"], 5);
    assert_eq!(of(4)["structure"]["kind"], "StableLog data");
    assert_eq!(of(5)["structure"]["kind"], "StableMinHeap");
    assert_eq!(of(5)["structure"]["elements"], 3);
}

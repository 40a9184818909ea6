use super::*;
use ic_stable_structures::memory_manager::{MemoryId, MemoryManager};
use ic_stable_structures::{StableBTreeMap, VectorMemory};

fn image_with_maps() -> Vec<u8> {
    let memory = VectorMemory::default();
    let manager = MemoryManager::init(memory.clone());
    let mut a: StableBTreeMap<u64, u64, _> = StableBTreeMap::init(manager.get(MemoryId::new(0)));
    for i in 0..100 {
        a.insert(i, i * 2);
    }
    let _b: StableBTreeMap<u64, u64, _> = StableBTreeMap::init(manager.get(MemoryId::new(3)));
    let bytes = memory.borrow().clone();
    bytes
}

#[test]
fn reads_the_layout_and_map_headers() {
    let image = image_with_maps();
    let layout = Layout::parse(&image).unwrap();
    assert_eq!(layout.bucket_size_pages, 128);
    assert_eq!(layout.allocated_buckets, 2);
    assert_eq!(
        layout.memories.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![0, 3]
    );
    let header = layout.map_header(&image, 0).unwrap().unwrap();
    assert_eq!(header.len, 100);
    assert_eq!(layout.map_header(&image, 3).unwrap().unwrap().len, 0);
    assert_eq!(layout.map_header(&image, 7).unwrap(), None);
}

#[test]
fn refuses_what_is_not_an_image() {
    let message = |bytes: &[u8]| Layout::parse(bytes).unwrap_err().to_string();
    assert!(message(&[]).contains("empty"));
    assert!(message(&[0u8; 100]).contains("64 KiB"));
    assert!(message(&vec![0u8; 65536]).contains("expected the magic `MGR`"));
    let mut image = image_with_maps();
    image[3] = 9;
    assert!(message(&image).contains("version 1, found 9"));
}

#[test]
fn refuses_a_damaged_layout() {
    let image = image_with_maps();
    let mut truncated = image.clone();
    truncated.truncate(image.len() - 65536);
    assert!(Layout::parse(&truncated)
        .unwrap_err()
        .to_string()
        .contains("need"));
    let mut orphan = image.clone();
    orphan[BUCKET_TABLE_OFFSET + 5] = 0;
    assert!(Layout::parse(&orphan)
        .unwrap_err()
        .to_string()
        .contains("bucket 5"));
    let mut oversized = image;
    oversized[SIZES_OFFSET..SIZES_OFFSET + 8].copy_from_slice(&1000u64.to_le_bytes());
    assert!(Layout::parse(&oversized)
        .unwrap_err()
        .to_string()
        .contains("virtual memory 0"));
}

#[test]
fn a_memory_that_is_not_a_map_is_named() {
    let mut image = image_with_maps();
    image[BUCKETS_START as usize] = b'X';
    let layout = Layout::parse(&image).unwrap();
    let error = layout.map_header(&image, 0).unwrap_err().to_string();
    assert!(
        error.contains("virtual memory 0") && error.contains("`XTR`"),
        "{error}"
    );
}

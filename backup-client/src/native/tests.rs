//! The native reader against ic-stable-structures itself: maps it wrote
//! (fixed and varying keys, values spilling into overflow pages), walked
//! whole and by ranges, give its own iteration; damaged bytes give a
//! reason, never a panic.

use super::*;
use backup_runtime::prelude::{DefaultMemoryImpl, MemoryId, MemoryManager, StableBTreeMap};

/// A stored key and value.
type Pair = (Vec<u8>, Vec<u8>);

type Managed = backup_runtime::prelude::VirtualMemory<DefaultMemoryImpl>;

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The bytes of a stable memory where `fill` made a map in memory 3.
fn image_of<K, V>(fill: impl FnOnce(&mut StableBTreeMap<K, V, Managed>)) -> Vec<u8>
where
    K: backup_runtime::prelude::Storable + Ord + Clone,
    V: backup_runtime::prelude::Storable,
{
    let stable = DefaultMemoryImpl::default();
    let manager = MemoryManager::init(stable.clone());
    let mut map = StableBTreeMap::init(manager.get(MemoryId::new(3)));
    fill(&mut map);
    let bytes = stable.borrow().clone();
    bytes
}

fn tree(memory: &[u8], key: Stored) -> BTree<'_> {
    let layout = Layout::parse(memory).unwrap();
    BTree::open(VirtualMemory::new(memory, &layout, 3).unwrap(), 3, key).unwrap()
}

fn entries(
    tree: &BTree,
    after: Option<&[u8]>,
    until: Option<&[u8]>,
) -> Result<Vec<Pair>, NotNative> {
    let mut out = Vec::new();
    tree.walk(after, until, &mut |key, value| {
        out.push((key.to_vec(), value.to_vec()));
        Ok(Flow::Go)
    })?;
    Ok(out)
}

#[test]
fn fixed_keys_and_values_in_overflow_pages_are_read_as_the_library_reads_them() {
    let mut rng = Rng(7);
    let mut sizes = Vec::new();
    for _ in 0..600 {
        // Mostly small, some far past a node's page (overflow pages).
        sizes.push(if rng.below(10) == 0 {
            3000 + rng.below(20_000)
        } else {
            rng.below(200)
        });
    }
    let image = image_of::<u64, Vec<u8>>(|map| {
        for (n, size) in sizes.iter().enumerate() {
            let key = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            map.insert(key, vec![(n % 251) as u8; *size as usize]);
        }
        for n in (0..600).step_by(7) {
            map.remove(&(n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        }
    });
    let expected: Vec<Pair> = {
        let stable = DefaultMemoryImpl::default();
        stable.borrow_mut().extend_from_slice(&image);
        let manager = MemoryManager::init(stable);
        let map: StableBTreeMap<u64, Vec<u8>, _> =
            StableBTreeMap::init(manager.get(MemoryId::new(3)));
        map.iter()
            .map(|entry| (entry.key().to_be_bytes().to_vec(), entry.value()))
            .collect()
    };
    let tree = tree(&image, Stored::Nat(8));
    assert_eq!(tree.header.len, expected.len() as u64);
    assert_eq!(entries(&tree, None, None).unwrap(), expected);
    for _ in 0..100 {
        let a = rng.below(expected.len() as u64) as usize;
        let b = rng.below(expected.len() as u64) as usize;
        let (after, until) = (&expected[a].0, &expected[b].0);
        let within: Vec<_> = expected
            .iter()
            .filter(|(key, _)| key > after && key <= until)
            .cloned()
            .collect();
        assert_eq!(entries(&tree, Some(after), Some(until)).unwrap(), within);
        let from: Vec<_> = expected
            .iter()
            .filter(|(key, _)| key > after)
            .cloned()
            .collect();
        assert_eq!(entries(&tree, Some(after), None).unwrap(), from);
    }
}

#[test]
fn principals_of_every_length_come_in_their_own_order() {
    let mut rng = Rng(11);
    let principals: Vec<Principal> = (0..400)
        .map(|_| {
            let len = 1 + rng.below(29) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| rng.below(256) as u8).collect();
            Principal::from_slice(&bytes)
        })
        .collect();
    let image = image_of::<Principal, String>(|map| {
        for (n, principal) in principals.iter().enumerate() {
            map.insert(*principal, format!("value {n}"));
        }
    });
    let mut sorted = principals.clone();
    sorted.sort();
    sorted.dedup();
    let tree = tree(&image, Stored::Principal);
    let keys: Vec<Vec<u8>> = entries(&tree, None, None)
        .unwrap()
        .into_iter()
        .map(|(key, _)| key)
        .collect();
    let expected: Vec<Vec<u8>> = sorted.iter().map(|p| p.as_slice().to_vec()).collect();
    assert_eq!(keys, expected, "Principal's order: length, then bytes");
    let middle = sorted[sorted.len() / 2].as_slice();
    let after = entries(&tree, Some(middle), None).unwrap();
    assert_eq!(after.len(), sorted.len() - sorted.len() / 2 - 1);
    // The wire forms, both ways.
    let first = &sorted[0];
    let text = Stored::Principal
        .to_wire(Wire::Text, first.as_slice())
        .unwrap();
    assert_eq!(text, IDLValue::Text(first.to_text()));
    assert_eq!(
        Stored::Principal.from_wire(Wire::Text, &text).unwrap(),
        first.as_slice()
    );
}

#[test]
fn damaged_bytes_give_a_reason_never_a_panic() {
    let image = image_of::<String, Vec<u8>>(|map| {
        for n in 0..300u32 {
            map.insert(format!("key {n:04}"), vec![n as u8; (n % 50) as usize * 40]);
        }
    });
    let layout = Layout::parse(&image).unwrap();
    let start = layout.memory_start(3).unwrap();
    let mut rng = Rng(3);
    let mut refused = 0;
    for _ in 0..400 {
        let mut damaged = image.clone();
        for _ in 0..1 + rng.below(4) {
            let at = start + rng.below(64 * 1024);
            damaged[at as usize] ^= 1 << rng.below(8);
        }
        let Ok(vm) = Layout::parse(&damaged)
            .map_err(|_| ())
            .and_then(|layout| VirtualMemory::new(&damaged, &layout, 3).ok_or(()))
        else {
            continue;
        };
        let Ok(tree) = BTree::open(vm, 3, Stored::Text) else {
            refused += 1;
            continue;
        };
        match entries(&tree, None, None) {
            Ok(_) => {}
            Err(reason) => {
                assert!(!reason.0.is_empty());
                refused += 1;
            }
        }
    }
    assert!(refused > 10, "damage is noticed ({refused} of 400)");
}

/// The memory of id `id` in `image`.
fn memory_of(image: &[u8], id: u8) -> VirtualMemory<'_> {
    let layout = Layout::parse(image).unwrap();
    VirtualMemory::new(image, &layout, id).unwrap()
}

fn elements(read: impl FnOnce(&mut EachElement) -> Result<(), NotNative>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    read(&mut |_, bytes| {
        out.push(bytes.to_vec());
        Ok(Flow::Go)
    })
    .unwrap();
    out
}

#[test]
fn vecs_heaps_logs_and_cells_read_as_the_library_wrote_them() {
    use ic_stable_structures::storable::Blob;
    use ic_stable_structures::{StableCell, StableLog, StableMinHeap, StableVec};
    let stable = DefaultMemoryImpl::default();
    let manager = MemoryManager::init(stable.clone());
    let memory = |id: u8| manager.get(MemoryId::new(id));
    // Fixed-size elements, and elements of varying size (a 2-byte size
    // before each: they may reach 800 bytes).
    let fixed: StableVec<u64, _> = StableVec::init(memory(0));
    let texts: StableVec<Blob<800>, _> = StableVec::init(memory(1));
    let mut rng = Rng(5);
    let words: Vec<String> = (0..300)
        .map(|n| "x".repeat(rng.below(700) as usize) + &n.to_string())
        .collect();
    for (n, word) in words.iter().enumerate() {
        fixed.push(&(n as u64 * 3));
        texts.push(&Blob::try_from(word.as_bytes()).unwrap());
    }
    let mut heap: StableMinHeap<u32, _> = StableMinHeap::init(memory(2));
    for n in [9, 4, 7, 1] {
        heap.push(&n);
    }
    let log: StableLog<Vec<u8>, _, _> = StableLog::init(memory(3), memory(4));
    let entries: Vec<Vec<u8>> = (0..50u8).map(|n| vec![n; n as usize * 3]).collect();
    for entry in &entries {
        log.append(entry).unwrap();
    }
    let _cell = StableCell::init(memory(5), "the configuration".to_string());
    let image = stable.borrow().clone();

    let expected: Vec<Vec<u8>> = (0..300u64)
        .map(|n| (n * 3).to_be_bytes().to_vec())
        .collect();
    assert_eq!(
        elements(|each| vec_elements(&memory_of(&image, 0), 0, each)),
        expected
    );
    let expected: Vec<Vec<u8>> = words.iter().map(|w| w.as_bytes().to_vec()).collect();
    assert_eq!(
        elements(|each| vec_elements(&memory_of(&image, 1), 0, each)),
        expected
    );
    assert_eq!(
        elements(|each| vec_elements(&memory_of(&image, 1), 295, each)),
        expected[295..]
    );
    let in_heap: Vec<Vec<u8>> = heap.iter().map(|n| n.to_be_bytes().to_vec()).collect();
    assert_eq!(
        elements(|each| vec_elements(&memory_of(&image, 2), 0, each)),
        in_heap
    );
    let (index, data) = (memory_of(&image, 3), memory_of(&image, 4));
    assert_eq!(
        elements(|each| log_entries(&index, &data, 0, each)),
        entries
    );
    assert_eq!(
        elements(|each| log_entries(&index, &data, 48, each)),
        entries[48..]
    );
    assert_eq!(
        cell_value(&memory_of(&image, 5)).unwrap(),
        b"the configuration"
    );
    // Each reader refuses another structure, saying what it found.
    assert!(cell_value(&memory_of(&image, 0)).is_err());
    assert!(vec_elements(&memory_of(&image, 5), 0, &mut |_, _| Ok(Flow::Go)).is_err());
    assert!(log_entries(&data, &index, 0, &mut |_, _| Ok(Flow::Go)).is_err());
}

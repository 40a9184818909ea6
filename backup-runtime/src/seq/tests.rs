use super::*;
use ic_stable_structures::VectorMemory;

thread_local! {
    static VEC: RefCell<StableVec<u64, VectorMemory>> = RefCell::new(StableVec::new(VectorMemory::default()));
    static LOG: RefCell<StableLog<String, VectorMemory, VectorMemory>> =
        RefCell::new(StableLog::new(VectorMemory::default(), VectorMemory::default()));
    static HEAP: RefCell<StableMinHeap<u64, VectorMemory>> =
        RefCell::new(StableMinHeap::new(VectorMemory::default()));
    static CELL: RefCell<StableCell<u64, VectorMemory>> =
        RefCell::new(StableCell::new(VectorMemory::default(), 7));
}

macro_rules! marker {
    ($marker:ident, $static:ident, $value:ty, $structure:ty, $empty:expr) => {
        struct $marker;
        impl BackupSeq for $marker {
            type Value = $value;
            type Structure = $structure;
            fn untouched() -> bool {
                false
            }
            fn check_memory() -> Result<(), String> {
                Ok(())
            }
            fn with<R>(f: impl FnOnce(&RefCell<Self::Structure>) -> R) -> R {
                $static.with(f)
            }
            fn empty() -> Self::Structure {
                $empty
            }
        }
    };
}

marker!(
    Vector,
    VEC,
    u64,
    StableVec<u64, VectorMemory>,
    StableVec::new(VectorMemory::default())
);
marker!(
    Journal,
    LOG,
    String,
    StableLog<String, VectorMemory, VectorMemory>,
    StableLog::new(VectorMemory::default(), VectorMemory::default())
);
marker!(
    Heap,
    HEAP,
    u64,
    StableMinHeap<u64, VectorMemory>,
    StableMinHeap::new(VectorMemory::default())
);
marker!(
    Setting,
    CELL,
    u64,
    StableCell<u64, VectorMemory>,
    StableCell::new(VectorMemory::default(), 7)
);

fn checked<S: BackupSeq>(batch: &[(u64, S::Value)], gaps: bool) -> Result<Vec<bool>, SeqError>
where
    S::Value: Clone,
{
    S::with(|structure| check::<S>(Some(&structure.borrow()), batch, gaps))
}

#[test]
fn a_vec_takes_indices_up_to_its_length_in_order() {
    VEC.with(|v| {
        for x in [10, 11, 12] {
            v.borrow().push(&x);
        }
    });
    // Overwrites below the length, appends at it and after.
    assert_eq!(
        checked::<Vector>(&[(1, 5), (3, 6), (4, 7)], true),
        Ok(vec![true, true, true])
    );
    // A gap past the end, out of order, repeated.
    assert_eq!(
        checked::<Vector>(&[(1, 5), (5, 6)], true),
        Err(SeqError::Gap {
            entry: 1,
            index: 5,
            len: 3
        })
    );
    // Validate leaves the gap to the batches before this one.
    assert!(checked::<Vector>(&[(7, 5), (8, 6)], false).is_ok());
    assert!(matches!(
        checked::<Vector>(&[(2, 5), (1, 6)], true),
        Err(SeqError::OutOfOrder { entry: 1, .. })
    ));
    assert!(matches!(
        checked::<Vector>(&[(2, 5), (2, 6)], true),
        Err(SeqError::OutOfOrder { entry: 1, .. })
    ));
    let message = SeqError::Gap {
        entry: 1,
        index: 5,
        len: 3,
    }
    .to_string();
    assert!(
        message.starts_with("entry 1 (index 5)") && message.contains("at most 3"),
        "{message}"
    );
}

#[test]
fn a_log_only_grows_and_takes_back_what_it_holds() {
    LOG.with(|l| {
        for x in ["a", "b"] {
            l.borrow().append(&x.to_string()).unwrap();
        }
    });
    let s = |x: &str| x.to_string();
    // A resumed restore: the entries already there are taken, not written.
    assert_eq!(
        checked::<Journal>(&[(1, s("b")), (2, s("c"))], true),
        Ok(vec![false, true])
    );
    assert_eq!(
        checked::<Journal>(&[(1, s("x"))], true),
        Err(SeqError::Differs {
            entry: 0,
            index: 1,
            kind: SeqKind::Log
        })
    );
    assert_eq!(
        checked::<Journal>(&[(2, s("c")), (4, s("d"))], true),
        Err(SeqError::NotConsecutive {
            entry: 1,
            index: 4,
            expected: 3
        })
    );
    assert!(matches!(
        checked::<Journal>(&[(3, s("c"))], true),
        Err(SeqError::Gap { .. })
    ));
    // Restore writes them, clear empties.
    let taken = restore::<Journal>(Batch(vec![(1, s("b")), (2, s("c"))]));
    assert_eq!(taken, Ok(2));
    assert_eq!(LOG.with(|l| l.borrow().len()), 3);
    assert_eq!(LOG.with(|l| l.borrow().get(2)), Some(s("c")));
}

#[test]
fn a_heap_restored_in_its_order_keeps_its_array() {
    // A heap's array, as a backup gives it, pushed into an empty heap.
    let source = StableMinHeap::<u64, _>::new(VectorMemory::default());
    let mut source = source;
    for x in [50, 3, 20, 8, 1, 30, 2] {
        source.push(&x);
    }
    let array: Vec<(u64, u64)> = source
        .iter()
        .enumerate()
        .map(|(i, x)| (i as u64, x))
        .collect();
    assert_eq!(checked::<Heap>(&array, true).map(|w| w.len()), Ok(7));
    assert_eq!(restore::<Heap>(Batch(array.clone())), Ok(7));
    let restored: Vec<u64> = HEAP.with(|h| h.borrow().iter().collect());
    assert_eq!(restored, array.iter().map(|(_, x)| *x).collect::<Vec<_>>());
    // A value less than its parent would move: refused.
    assert_eq!(
        checked::<Heap>(&[(7, 0)], true),
        Err(SeqError::OutOfPlace {
            entry: 0,
            index: 7,
            parent: 3
        })
    );
    // Its parent in the same batch counts too.
    assert!(matches!(
        checked::<Heap>(
            &[
                (7, 100),
                (8, 100),
                (9, 100),
                (10, 100),
                (11, 100),
                (12, 100),
                (13, 100),
                (14, 100),
                (15, 99)
            ],
            true
        ),
        Err(SeqError::OutOfPlace {
            entry: 8,
            index: 15,
            parent: 7
        })
    ));
}

#[test]
fn a_cell_has_one_index() {
    assert_eq!(checked::<Setting>(&[(0, 9)], true), Ok(vec![true]));
    assert_eq!(
        checked::<Setting>(&[(1, 9)], true),
        Err(SeqError::NotCellIndex { entry: 0, index: 1 })
    );
    assert_eq!(restore::<Setting>(Batch(vec![(0, 9)])), Ok(1));
    assert_eq!(CELL.with(|c| *c.borrow().get()), 9);
    assert_eq!(clear::<Setting>(), 1);
    assert_eq!(CELL.with(|c| *c.borrow().get()), 7);
}

#[test]
fn splits_cut_as_a_maps_do() {
    // 10 entries in 3 parts: spans of 4, cut after indices 3 and 7.
    assert_eq!(splits(10, None, 3, 0).unwrap().keys, vec![3, 7]);
    // From after index 3, one key of the span already walked.
    assert_eq!(splits(10, Some(3), 3, 1).unwrap().keys, vec![6]);
    // Never the last index; one part, no cut.
    assert_eq!(splits(8, None, 2, 0).unwrap().keys, vec![3]);
    assert!(splits(8, None, 1, 0).unwrap().keys.is_empty());
    assert!(splits(0, None, 4, 0).unwrap().keys.is_empty());
    assert!(matches!(
        splits(10, None, 0, 0),
        Err(PageError::BadParts { asked: 0 })
    ));
    assert!(matches!(
        splits(10, None, 3, 4),
        Err(PageError::BadWalked {
            walked: 4,
            every: 4
        })
    ));
}

#[test]
fn pages_carry_indices_and_stop_at_the_budget() {
    VEC.with(|v| {
        *v.borrow_mut() = StableVec::new(VectorMemory::default());
        for x in 0..100u64 {
            v.borrow().push(&x);
        }
    });
    let limits = PageLimits::with_max_bytes(Some(160)).unwrap();
    let reply = encode_cursor_page::<Vector>(Some(9), None, limits, &|| 0).unwrap();
    let page: BackupPage<u64, u64> = candid::decode_one(&reply).unwrap();
    assert_eq!(page.len, 100);
    assert_eq!(page.entries.first(), Some(&(10, 10)));
    assert!(page.entries.len() < 90 && page.next == page.entries.last().map(|e| e.0));
    // Up to and including `until`.
    let reply =
        encode_cursor_page::<Vector>(Some(9), Some(12), PageLimits::default(), &|| 0).unwrap();
    let page: BackupPage<u64, u64> = candid::decode_one(&reply).unwrap();
    assert_eq!(page.entries, vec![(10, 10), (11, 11), (12, 12)]);
    assert_eq!(page.next, None);
    // Offset pages.
    let reply = encode_offset_page::<Vector>(98, 5, PageLimits::default(), &|| 0).unwrap();
    let entries: Vec<(u64, u64)> = candid::decode_one(&reply).unwrap();
    assert_eq!(entries, vec![(98, 98), (99, 99)]);
    let reply = encode_offset_page::<Vector>(100, 5, PageLimits::default(), &|| 0).unwrap();
    let entries: Vec<(u64, u64)> = candid::decode_one(&reply).unwrap();
    assert!(entries.is_empty());
}

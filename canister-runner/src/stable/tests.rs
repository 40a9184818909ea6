use super::*;

#[test]
fn rollback_restores_writes_and_growth() {
    let mut memory = StableMemory::new(vec![1; PAGE as usize], 10);
    memory.begin();
    memory.grow(2).unwrap();
    memory.write(PAGE - 2, &[9; 5]).unwrap();
    memory.write(2 * PAGE, &[7; 3]).unwrap();
    memory.rollback();
    assert_eq!(memory.bytes(), &vec![1; PAGE as usize][..]);
}

#[test]
fn commits_add_up_the_pages_they_wrote_until_taken() {
    let mut memory = StableMemory::new(vec![0; PAGE as usize], 10);
    memory.begin();
    memory.start_message(u64::MAX);
    memory.grow(1).unwrap();
    for (offset, len) in [(PAGE + 5, 3), (4095, 2), (10, 1)] {
        memory.access(offset, len, true).unwrap();
        memory.write(offset, &vec![1; len as usize]).unwrap();
    }
    memory.commit();
    assert_eq!(memory.generation(), 1);
    // A rolled-back message adds nothing.
    memory.begin();
    memory.start_message(u64::MAX);
    memory.access(3 * 4096, 1, true).unwrap();
    memory.write(3 * 4096, &[9]).unwrap();
    memory.rollback();
    assert_eq!(memory.generation(), 1);
    // A second committed message adds its pages to the first's.
    memory.begin();
    memory.start_message(u64::MAX);
    memory.access(20 * 4096, 4096 + 1, true).unwrap();
    memory.write(20 * 4096, &[2; 4097]).unwrap();
    memory.access(10, 1, true).unwrap();
    memory.write(10, &[3]).unwrap();
    memory.commit();
    assert_eq!(memory.generation(), 2);
    assert_eq!(memory.take_written(), vec![0, 1, 16, 20, 21]);
    // Taken: the next message starts a new set.
    assert_eq!(memory.take_written(), Vec::<u64>::new());
    memory.begin();
    memory.start_message(u64::MAX);
    memory.access(4096 * 7, 1, true).unwrap();
    memory.write(4096 * 7, &[1]).unwrap();
    memory.commit();
    assert_eq!(memory.take_written(), vec![7]);
}

#[test]
fn bounds_and_limits() {
    let mut memory = StableMemory::new(Vec::new(), 2);
    assert_eq!(memory.grow(3), None);
    assert_eq!(memory.grow(2), Some(0));
    assert!(memory.read(2 * PAGE - 1, 2).is_none());
    assert!(memory.write(u64::MAX, &[1]).is_none());
    assert_eq!(memory.read(2 * PAGE - 1, 1), Some(&[0][..]));
}

#[test]
fn growth_keeps_what_is_there_and_adds_zeros_either_way() {
    // 1 page grown by 1 (zeros written), then by 200 (a fresh zeroed
    // allocation: more than ZEROED_GROWTH and than the memory), then by 2.
    let mut memory = StableMemory::new(vec![3; PAGE as usize], 1000);
    for (pages, old) in [(1, 1), (200, 2), (2, 202)] {
        memory.write(0, &[5; 7]).unwrap();
        let len = memory.bytes().len();
        memory.write(len as u64 - 1, &[6]).unwrap();
        assert_eq!(memory.grow(pages), Some(old));
        let bytes = memory.bytes();
        assert_eq!(bytes.len() as u64, (old + pages) * PAGE);
        assert_eq!(&bytes[..7], &[5; 7]);
        assert_eq!(bytes[len - 1], 6, "the last byte before growing");
        assert!(bytes[len..].iter().all(|&b| b == 0), "grown by {pages}");
    }
    const { assert!((ZEROED_GROWTH as u64) < 200 * PAGE && ZEROED_GROWTH as u64 > 2 * PAGE) };
    // Past the maximum, nothing changes.
    assert_eq!(memory.grow(1000), None);
    assert_eq!(memory.pages(), 204);
}

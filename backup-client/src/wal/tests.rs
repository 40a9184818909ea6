use super::*;

fn memory(pages: usize, fill: u8) -> Vec<u8> {
    vec![fill; pages * PAGE]
}

fn replayed(image: &Path, start: &[u8]) -> Result<(Vec<u8>, Replayed)> {
    let mut bytes = start.to_vec();
    let found = replay(image, &mut bytes)?.expect("a log");
    Ok((bytes, found))
}

/// Two calls' records: the memory after each, and the log's bytes.
fn two_records(image: &Path) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let mut wal = Wal::create(image).unwrap();
    let mut live = memory(32, 0);
    live[5 * PAGE..6 * PAGE].fill(1);
    wal.append(&live, &[5], b"first").unwrap();
    let first = live.clone();
    live.resize(48 * PAGE, 0);
    live[40 * PAGE..41 * PAGE].fill(2);
    live[5 * PAGE..6 * PAGE].fill(3);
    wal.append(&live, &[5, 40], b"second").unwrap();
    (first, live, std::fs::read(path_of(image)).unwrap())
}

#[test]
fn records_replay_in_order_with_their_notes_and_a_torn_tail_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("image.bin");
    let (first, second, log) = two_records(&image);
    let (bytes, found) = replayed(&image, &memory(32, 0)).unwrap();
    assert!(bytes == second);
    assert_eq!(found.notes, vec![b"first".to_vec(), b"second".to_vec()]);
    // Every cut of the log replays to a prefix of the calls, never a mix.
    let first_len = HEADER + 8 + 4 + (8 + PAGE) + 4 + 5 + DIGEST;
    for cut in 0..log.len() {
        std::fs::write(path_of(&image), &log[..cut]).unwrap();
        let (bytes, found) = replayed(&image, &memory(32, 0)).unwrap();
        assert_eq!(found.records, usize::from(cut >= first_len), "cut at {cut}");
        assert!(
            bytes
                == if cut >= first_len {
                    first.clone()
                } else {
                    memory(32, 0)
                }
        );
    }
}

#[test]
fn a_damaged_record_with_more_after_it_is_refused_and_a_damaged_last_one_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("image.bin");
    let (first, _, log) = two_records(&image);
    let first_len = HEADER + 8 + 4 + (8 + PAGE) + 4 + 5 + DIGEST;
    // Every byte of the first record, changed, is found; the second record
    // shows records were acknowledged after it, so the log is refused. A
    // change in the last record drops it, as a torn write.
    for at in (0..log.len())
        .step_by(7)
        .chain([8, 9, 15, 16, 23, HEADER + 8])
    {
        let mut damaged = log.clone();
        damaged[at] ^= 0x40;
        std::fs::write(path_of(&image), &damaged).unwrap();
        let start = memory(32, 9);
        let mut bytes = start.clone();
        let outcome = replay(&image, &mut bytes);
        if at < first_len {
            let error = outcome.unwrap_err().to_string();
            assert!(error.contains("damaged at byte 0"), "byte {at}: {error}");
            assert!(bytes == start, "a refused log changes nothing");
        } else {
            let found = outcome.unwrap().unwrap();
            assert_eq!(found.records, 1, "byte {at}");
            let mut expected = first.clone();
            expected[..5 * PAGE].fill(9);
            expected[6 * PAGE..].fill(9);
            assert!(bytes == expected, "byte {at}");
        }
    }
    assert!(replay(&dir.path().join("none.bin"), &mut Vec::new())
        .unwrap()
        .is_none());
}

/// A record's page count damaged (its header intact) is not taken for a
/// torn tail: the later record is not silently dropped.
#[test]
fn a_damaged_count_in_a_middle_record_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("image.bin");
    let (_, _, log) = two_records(&image);
    for count in [0u32, 2, 1000, u32::MAX] {
        let mut damaged = log.clone();
        damaged[HEADER + 8..HEADER + 12].copy_from_slice(&count.to_le_bytes());
        std::fs::write(path_of(&image), &damaged).unwrap();
        let error = replay(&image, &mut memory(32, 0)).unwrap_err().to_string();
        assert!(error.contains("damaged at byte 0"), "{error}");
    }
    // The body's length in the header, damaged: the header's check fails.
    let mut damaged = log.clone();
    damaged[8] ^= 0x01;
    std::fs::write(path_of(&image), &damaged).unwrap();
    let error = replay(&image, &mut memory(32, 0)).unwrap_err().to_string();
    assert!(error.contains("header fails its check"), "{error}");
}

/// After `clear` (a fold), the next records start the file again: no run
/// of zeros where the old records were.
#[test]
fn records_after_a_clear_replay() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("image.bin");
    let mut wal = Wal::create(&image).unwrap();
    let mut live = memory(8, 0);
    for round in 0..3u8 {
        live[PAGE..2 * PAGE].fill(round + 1);
        wal.append(&live, &[1], &[round]).unwrap();
    }
    wal.clear().unwrap();
    live[3 * PAGE..4 * PAGE].fill(7);
    wal.append(&live, &[3], b"a").unwrap();
    live[4 * PAGE..5 * PAGE].fill(8);
    wal.append(&live, &[4], b"b").unwrap();
    assert_eq!(
        std::fs::metadata(path_of(&image)).unwrap().len(),
        wal.len(),
        "the file holds just the records since the clear"
    );
    let mut folded = live.clone();
    folded[3 * PAGE..5 * PAGE].fill(0);
    let (bytes, found) = replayed(&image, &folded).unwrap();
    assert_eq!(found.notes, vec![b"a".to_vec(), b"b".to_vec()]);
    assert!(bytes == live);
}

/// Replaying a log over an image that already holds its records (a fold
/// whose clear did not happen) gives the same image.
#[test]
fn replay_over_a_folded_image_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("image.bin");
    let (_, second, _) = two_records(&image);
    let (bytes, _) = replayed(&image, &second).unwrap();
    assert!(bytes == second);
}

/// A call that replaced the memory whole (a reinstall, a snapshot loaded)
/// leaves it shorter, every page of it in its record; replayed over the
/// image before the log or over the image a fold cut short already wrote,
/// the memory is the same.
#[test]
fn a_memory_replaced_whole_replays_shorter() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("image.bin");
    let mut wal = Wal::create(&image).unwrap();
    let before = memory(48, 7);
    let mut live = memory(16, 0);
    live[3 * PAGE..4 * PAGE].fill(4);
    wal.append(&live, &(0..16).collect::<Vec<u64>>(), b"reinstall")
        .unwrap();
    live.resize(20 * PAGE, 0);
    live[18 * PAGE..19 * PAGE].fill(5);
    wal.append(&live, &[18], b"grow").unwrap();
    let (bytes, _) = replayed(&image, &before).unwrap();
    assert!(bytes == live);
    let (bytes, _) = replayed(&image, &live).unwrap();
    assert!(bytes == live);
}

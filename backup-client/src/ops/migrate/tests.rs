use super::*;

fn file(dir: &Path, name: &str, entries: Value) -> PathBuf {
    let path = dir.join(name);
    let document = json!({ "format": "ic-backup/lossless-1", "map": "m", "entries": entries });
    std::fs::write(&path, serde_json::to_vec(&document).unwrap()).unwrap();
    path
}

#[test]
fn backups_compare_entry_by_entry_and_say_where_they_differ() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let entries = json!([["a", {"x": 1}], ["b", [1, 2]], ["c", null]]);
    let before = file(dir, "before.json", entries.clone());
    let same = file(dir, "same.json", entries);
    assert_eq!(
        compare_entries(&before, &same).unwrap(),
        Compared {
            entries: 3,
            first_difference: None
        }
    );
    for (after, at) in [
        (json!([["a", {"x": 1}], ["b", [1, 3]], ["c", null]]), 1),
        (json!([["a", {"x": 2}], ["b", [1, 2]], ["c", null]]), 0),
        (json!([["a", {"x": 1}], ["b", [1, 2]]]), 2),
        (
            json!([["a", {"x": 1}], ["b", [1, 2]], ["c", null], ["d", 0]]),
            3,
        ),
        (json!([]), 0),
    ] {
        let after = file(dir, "after.json", after);
        assert_eq!(
            compare_entries(&before, &after).unwrap().first_difference,
            Some(at)
        );
    }
    let broken = dir.join("broken.json");
    std::fs::write(&broken, r#"{"entries": [["a", {"x": 1}], ["b""#).unwrap();
    let error = compare_entries(&before, &broken).unwrap_err().to_string();
    assert!(error.contains("not JSON"), "{error}");
}

#[test]
fn a_file_digest_is_the_digest_of_its_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i * 7) as u8).collect();
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(
        sha256_of(&path).unwrap(),
        hex::encode(Sha256::digest(&bytes))
    );
    let error = sha256_of(&dir.path().join("missing"))
        .unwrap_err()
        .to_string();
    assert!(error.contains("missing"), "{error}");
}

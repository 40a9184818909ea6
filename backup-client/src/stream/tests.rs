use super::*;
use serde_json::json;

/// The entries walked, by index, and the walk's end.
type Walk = (Vec<(u64, Value)>, Option<Walked>);

fn walk_text(text: &str, skip: u64, stop_at: Option<u64>) -> Result<Walk> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.json");
    std::fs::write(&path, text).unwrap();
    let mut seen = Vec::new();
    let walked = walk(&path, skip, &ProgressBar::hidden(), &mut |_, i, entry| {
        seen.push((i, entry));
        Ok(if Some(i) == stop_at {
            Flow::Stop
        } else {
            Flow::Next
        })
    })?;
    Ok((seen, walked))
}

/// An object with a key twice is refused, naming the key; the same key
/// in two objects, and equal values, are fine; numbers read as
/// `serde_json::Value` reads them.
#[test]
fn a_key_twice_in_one_object_is_refused() {
    let error = walk_text(r#"[["a", {"x": 1, "y": 2, "x": 3}]]"#, 0, None)
        .unwrap_err()
        .to_string();
    assert!(error.contains("the key `x` twice"), "{error}");
    assert!(!error.contains("not JSON"), "{error}");
    let (seen, _) = walk_text(
        r#"[["a", {"x": 1}], ["b", {"x": [1.5, -2, 18446744073709551615]}]]"#,
        0,
        None,
    )
    .unwrap();
    assert_eq!(
        seen[1].1,
        json!(["b", {"x": [1.5, -2, 18446744073709551615u64]}])
    );
}

#[test]
fn entries_come_one_by_one_with_the_file_digest() {
    let text = r#"[["a", 1], ["b", {"x": [2]}], ["c", null]]"#;
    let (seen, walked) = walk_text(text, 0, None).unwrap();
    assert_eq!(
        seen,
        vec![
            (0, json!(["a", 1])),
            (1, json!(["b", {"x": [2]}])),
            (2, json!(["c", null]))
        ]
    );
    let walked = walked.unwrap();
    assert_eq!(walked.outer, Outer::Array);
    assert_eq!(walked.entries, 3);
    assert_eq!(walked.sha256, <[u8; 32]>::from(Sha256::digest(text)));
    // Skipped entries are counted, not handed out; a stop ends the walk.
    let (seen, walked) = walk_text(text, 2, None).unwrap();
    assert_eq!(seen, vec![(2, json!(["c", null]))]);
    assert_eq!(walked.unwrap().entries, 3);
    let (seen, walked) = walk_text(text, 0, Some(1)).unwrap();
    assert_eq!(seen.len(), 2);
    assert!(walked.is_none());
}

#[test]
fn the_outer_value_is_described() {
    let lossless = r#"{"format": "f", "map": {"deep": [1]}, "entries": [[1, 2]], "skipped": [3]}"#;
    let (seen, walked) = walk_text(lossless, 0, None).unwrap();
    assert_eq!(seen, vec![(0, json!([1, 2]))]);
    assert_eq!(
        walked.unwrap().outer,
        Outer::Object {
            format: Some(json!("f")),
            entries: EntriesField::Array
        }
    );
    for (text, outer) in [
        (
            r#"{"entries": 5}"#,
            Outer::Object {
                format: None,
                entries: EntriesField::NotArray,
            },
        ),
        (
            r#"{"entries": {"a": [1]}, "format": 2}"#,
            Outer::Object {
                format: Some(json!(2)),
                entries: EntriesField::NotArray,
            },
        ),
        (
            r#"{}"#,
            Outer::Object {
                format: None,
                entries: EntriesField::Missing,
            },
        ),
        ("7", Outer::Other),
        ("\"x\"", Outer::Other),
        ("null", Outer::Other),
    ] {
        let (seen, walked) = walk_text(text, 0, None).unwrap();
        assert!(seen.is_empty());
        assert_eq!(walked.unwrap().outer, outer, "{text}");
    }
    let twice = walk_text(r#"{"entries": [], "entries": []}"#, 0, None).unwrap_err();
    assert!(twice.to_string().contains("`entries` twice"), "{twice}");
}

#[test]
fn broken_documents_are_refused_with_where() {
    for text in ["", "[[1, 2], ", "[1] 2", "[1,]", "{\"entries\": [1}"] {
        let error = walk_text(text, 0, None).unwrap_err().to_string();
        assert!(
            error.contains("not JSON") && error.contains("line"),
            "{text}: {error}"
        );
    }
    // The handler's own error is the walk's.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.json");
    std::fs::write(&path, "[1, 2]").unwrap();
    let error = walk(&path, 0, &ProgressBar::hidden(), &mut |_, i, _| {
        if i == 1 {
            Err(Error::Input("entry 1 is wrong".into()))
        } else {
            Ok(Flow::Next)
        }
    })
    .unwrap_err();
    assert_eq!(error.to_string(), "entry 1 is wrong");
}

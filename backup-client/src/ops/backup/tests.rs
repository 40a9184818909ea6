use super::*;

/// A service with one map, for the request-building tests here and in `restore`.
pub(in crate::ops) const DID: &str = r#"
    type Page = record { entries : vec record { text; record { n : nat64 } }; next : opt text; len : nat64 };
    service : {
        backup_things_page : (opt text, opt nat64) -> (Page) query;
        restore_things : (vec record { text; record { n : nat64 } }) -> (variant { Ok : nat64; Err : text });
    }"#;

/// The streamed file is byte for byte what pretty-printing the whole
/// document writes, in every form, empty or not, skipped keys or not,
/// the entries in one partial file or spread over several (spans).
#[test]
fn assembling_streams_what_the_whole_document_prints() {
    let dir = tempfile::tempdir().unwrap();
    let partials: Vec<PathBuf> = (0..3).map(|i| dir.path().join(format!("p{i}"))).collect();
    let output = dir.path().join("out.json");
    let entries = [
        json!(["a\nb", {"x": [1, {"y": []}], "z": {}, "w": "é\"", "v": [[], [null]]}]),
        json!([1, null]),
        json!(["k", [1.5, true, {"deep": {"deeper": [1, 2]}}]]),
    ];
    let header =
        json!({"format": LOSSLESS_FORMAT, "map": "m", "key": "text", "value": "record {}"});
    for count in [0, 1, 3] {
        let lines: String = entries[..count].iter().map(|e| format!("{e}\n")).collect();
        for (spans, skipped) in [1, 3]
            .into_iter()
            .flat_map(|spans| [(spans, vec![]), (spans, vec![json!("k1"), json!({"a": 1})])])
        {
            // One file, or: the first entry, nothing, the rest.
            let partial = &partials[..spans];
            if spans == 1 {
                std::fs::write(&partial[0], &lines).unwrap();
            } else {
                let cut = lines.find('\n').map_or(0, |at| at + 1);
                std::fs::write(&partial[0], &lines[..cut]).unwrap();
                std::fs::write(&partial[1], "").unwrap();
                std::fs::write(&partial[2], &lines[cut..]).unwrap();
            }
            assemble(partial, &output, Format::Json, None, &skipped).unwrap();
            let plain = Value::Array(entries[..count].to_vec());
            assert_eq!(
                std::fs::read(&output).unwrap(),
                serde_json::to_vec_pretty(&plain).unwrap()
            );
            assemble(
                partial,
                &output,
                Format::Lossless,
                Some(header.clone()),
                &skipped,
            )
            .unwrap();
            let mut document = header.clone();
            document["entries"] = plain.clone();
            if !skipped.is_empty() {
                document["skipped"] = Value::Array(skipped.clone());
            }
            assert_eq!(
                String::from_utf8(std::fs::read(&output).unwrap()).unwrap(),
                String::from_utf8(serde_json::to_vec_pretty(&document).unwrap()).unwrap()
            );
            assemble(partial, &output, Format::AgentJs, None, &skipped).unwrap();
            let joined: Vec<&str> = lines.lines().collect();
            assert_eq!(
                std::fs::read(&output).unwrap(),
                format!("[{}]\n", joined.join(",")).into_bytes()
            );
        }
    }
}

#[test]
fn page_requests_carry_the_cursor_and_budget() {
    let interface = Interface::parse(DID).unwrap();
    let types = interface.map("things").unwrap();
    let arg = page_request(
        &interface,
        &types,
        Some(IDLValue::Text("k".into())),
        Some(4096),
        Some(IDLValue::Text("z".into())),
    )
    .unwrap();
    let (after, max, until): (Option<String>, Option<u64>, Option<String>) =
        candid::decode_args(&arg).unwrap();
    assert_eq!(
        (after.as_deref(), max, until.as_deref()),
        (Some("k"), Some(4096), Some("z"))
    );
    // Without an end key, the two arguments every canister takes.
    let arg = page_request(&interface, &types, None, None, None).unwrap();
    assert_eq!(
        IDLArgs::from_bytes(&arg).unwrap().args,
        vec![IDLValue::None, IDLValue::None]
    );
    assert!(interface
        .map("other")
        .unwrap_err()
        .to_string()
        .contains("its maps: things"));
}

//! The article's agent-js form, against fixtures that @dfinity/candid made
//! (`scripts/agent-js/fixtures.mjs`): each case's values encoded by agent-js,
//! decoded and printed as the article's `backup.js` prints them, and the
//! bytes its `restore.js` sends for that file (or the encoder's refusal).
//!
//! What is checked: `restore` reads every file agent-js writes and sends
//! exactly what was backed up (or, for numbers JavaScript rounded, exactly
//! what restore.js sends, with a warning); `backup --format agent-js` writes
//! byte for byte what backup.js writes, rounding included, except where
//! restore.js could not send that back: typed arrays (blobs, `vec int16`)
//! that agent-js prints as objects are written as arrays (`<case>.arrays.json`).

use backup_client::interface::Interface;
use backup_client::json::{Codec, Format};
use backup_client::ops::restore::read_entries;
use candid::types::value::IDLValue;
use candid::IDLArgs;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/agent-js")
}

struct Case {
    name: String,
    interface: Interface,
    candid: Vec<u8>,
    restore_js: Option<Vec<u8>>,
}

impl Case {
    fn all() -> Vec<Case> {
        let index: Value =
            serde_json::from_slice(&std::fs::read(fixtures().join("cases.json")).unwrap()).unwrap();
        index
            .as_array()
            .unwrap()
            .iter()
            .map(|case| {
                let (key, value) = (case["key"].as_str().unwrap(), case["value"].as_str().unwrap());
                let did = format!(
                    "type K = {key}; type V = {value};
                     service : {{
                         backup_m_page : (opt K, opt nat64) -> (record {{ entries : vec record {{ K; V }}; next : opt K; len : nat64 }}) query;
                         restore_m : (vec record {{ K; V }}) -> (variant {{ Ok : nat64; Err : text }});
                     }}"
                );
                Case {
                    name: case["name"].as_str().unwrap().to_string(),
                    interface: Interface::parse(&did).unwrap(),
                    candid: hex::decode(case["candid"].as_str().unwrap()).unwrap(),
                    restore_js: case["restore_js"]["candid"]
                        .as_str()
                        .map(|bytes| hex::decode(bytes).unwrap()),
                }
            })
            .collect()
    }

    fn file(&self, suffix: &str) -> PathBuf {
        fixtures().join(format!("{}{suffix}", self.name))
    }

    /// `restore`'s reading of a file: its entries, and how many numbers in
    /// it were inexact.
    fn read(&self, path: &Path, format: Option<Format>) -> Result<(IDLValue, u64), String> {
        let types = self.interface.map("m").unwrap();
        let file =
            read_entries(&self.interface, &types, path, format).map_err(|e| e.to_string())?;
        Ok((
            IDLValue::Vec(file.entries),
            file.lossy.map_or(0, |(n, _)| n),
        ))
    }

    /// Candid bytes (agent-js's encoding: its own type table order) as the
    /// value of the map's entries.
    fn decode(&self, bytes: &[u8]) -> IDLValue {
        let types = self.interface.map("m").unwrap();
        let mut args =
            IDLArgs::from_bytes_with_types(bytes, &self.interface.env, &[types.entries]).unwrap();
        args.args.remove(0)
    }

    /// `backup --format agent-js`'s writing of the backed-up values.
    fn write(&self) -> (String, u64) {
        let types = self.interface.map("m").unwrap();
        let args = IDLArgs::from_bytes_with_types(
            &self.candid,
            &self.interface.env,
            std::slice::from_ref(&types.entries),
        )
        .unwrap();
        let IDLValue::Vec(entries) = &args.args[0] else {
            panic!("{}: not a vec", self.name)
        };
        let codec = Codec::new(&self.interface.env, Format::AgentJs);
        let lines: Vec<String> = entries
            .iter()
            .map(|entry| {
                let IDLValue::Record(pair) = entry else {
                    panic!()
                };
                String::from_utf8(
                    codec
                        .entry_text((&types.key, &types.value), &pair[0].val, &pair[1].val)
                        .unwrap(),
                )
                .unwrap()
            })
            .collect();
        (format!("[{}]\n", lines.join(",")), codec.lossy())
    }
}

fn case(name: &str) -> Case {
    Case::all()
        .into_iter()
        .find(|case| case.name == name)
        .unwrap()
}

#[test]
fn every_file_agent_js_writes_restores_what_was_backed_up() {
    for name in ["profiles", "every-type", "blobs", "principals"] {
        let case = case(name);
        for path in [case.file(".json"), case.file(".arrays.json")] {
            if !path.exists() {
                continue;
            }
            let (entries, lossy) = case
                .read(&path, None)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(
                entries,
                case.decode(&case.candid),
                "{} reads as the values backed up",
                path.display()
            );
            assert_eq!(lossy, 0, "{name}: nothing inexact");
            // Where restore.js can send the file, it sends the same values.
            if let (Some(sent), true) = (&case.restore_js, path.ends_with(format!("{name}.json"))) {
                assert_eq!(case.decode(sent), entries, "{name}: restore.js");
            }
        }
    }
}

#[test]
fn backup_writes_what_restore_js_reads_byte_for_byte() {
    for name in [
        "profiles",
        "every-type",
        "blobs",
        "principals",
        "inexact",
        "nonfinite",
    ] {
        let case = case(name);
        let expected = if case.file(".arrays.json").exists() {
            case.file(".arrays.json")
        } else {
            case.file(".json")
        };
        let (text, lossy) = case.write();
        assert_eq!(text, std::fs::read_to_string(&expected).unwrap(), "{name}");
        // Each number JavaScript does not hold exactly is counted, for the warning.
        let inexact = match name {
            "inexact" => 10,
            "nonfinite" => 3,
            _ => 0,
        };
        assert_eq!(lossy, inexact, "{name}");
    }
}

#[test]
fn numbers_javascript_rounded_are_read_as_restore_js_sends_them_and_counted() {
    let case = case("inexact");
    let (entries, lossy) = case.read(&case.file(".json"), None).unwrap();
    let sent = case.decode(case.restore_js.as_ref().unwrap());
    assert_eq!(
        entries, sent,
        "the rounded values, as restore.js sends them"
    );
    assert_ne!(case.decode(&case.candid), sent);
    assert_eq!(lossy, 10, "every number above 2^53 - 1, keys included");

    let case = self::case("overflow");
    assert!(case.restore_js.is_none(), "restore.js refuses it");
    let error = case.read(&case.file(".json"), None).unwrap_err();
    assert!(
        error.contains("a nat64") && error.contains("rounded by JavaScript"),
        "{error}"
    );
}

#[test]
fn an_ambiguous_file_asks_for_its_form() {
    // `opt vec text` written `[[]]`: agent-js's `opt` holding an empty vec,
    // or plain JSON's vec holding one empty... no: plain JSON's `[]` inside
    // a present opt. Both readings succeed and differ.
    let interface = Interface::parse(
        "service : { backup_m_page : (opt text, opt nat64) -> (record { entries : vec record { text; opt vec text }; next : opt text; len : nat64 }) query;
                     restore_m : (vec record { text; opt vec text }) -> (variant { Ok : nat64; Err : text }) }",
    )
    .unwrap();
    let types = interface.map("m").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.json");
    std::fs::write(&path, r#"[["a", []]]"#).unwrap();
    let error = read_entries(&interface, &types, &path, None)
        .err()
        .unwrap()
        .to_string();
    assert!(
        error.contains("--format agent-js or --format json"),
        "{error}"
    );
    let agent_js = read_entries(&interface, &types, &path, Some(Format::AgentJs)).unwrap();
    assert_eq!(agent_js.entries[0].to_string(), "record { \"a\"; null }");
    let plain = read_entries(&interface, &types, &path, Some(Format::Json)).unwrap();
    assert_eq!(plain.entries[0].to_string(), "record { \"a\"; opt vec {} }");
}

//! Reading, planning and encoding a file, and the command's checks.

use super::*;
use crate::ops::backup::tests::DID;
use backup_runtime::limits::MAX_ENTRY_BYTES;
use candid::types::value::IDLValue;
use candid::IDLArgs;

/// The batches of `file` (written to disk) planned under `budget`, as
/// `restore` would send them, or the plan's error.
fn plan_of(file: &serde_json::Value, budget: usize) -> Result<Vec<(usize, Vec<u8>)>> {
    let interface = Interface::parse(DID).unwrap();
    let types = interface.map("things").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("things.json");
    std::fs::write(&path, serde_json::to_vec(file).unwrap()).unwrap();
    let encoder = Encoder::new(&interface, &types)?;
    let plan = Plan::new(
        &encoder,
        "things",
        &path,
        None,
        &FieldMap::default(),
        budget,
        true,
    )?;
    plan.check_unique_keys()?;
    let mut batches = Vec::new();
    let all = plan.each_batch(0, &mut |index, first, count, arg| {
        assert_eq!(index, batches.len());
        let before: usize = batches.iter().map(|(n, _)| n).sum();
        assert_eq!(first, before as u64);
        batches.push((count, arg.to_vec()));
        Ok(Flow::Next)
    })?;
    assert!(all);
    Ok(batches)
}

fn things(n: u64) -> Vec<serde_json::Value> {
    (0..n)
        .map(|i| json!([format!("key-{i:04}"), { "n": i }]))
        .collect()
}

#[test]
fn restore_batches_fit_the_budget_and_keep_every_entry() {
    let interface = Interface::parse(DID).unwrap();
    let types = interface.map("things").unwrap();
    let batches = plan_of(&json!(things(1000)), 1000).unwrap();
    assert!(batches.len() > 10);
    let mut seen = Vec::new();
    for (count, arg) in &batches {
        assert!(arg.len() <= 1000, "a batch of {} bytes", arg.len());
        let args = IDLArgs::from_bytes(arg).unwrap();
        let IDLValue::Vec(items) = &args.args[0] else {
            panic!("not a vector")
        };
        assert_eq!(items.len(), *count);
        // Entry by entry, the bytes of encoding the batch at once.
        let at_once = IDLArgs::new(&args.args)
            .to_bytes_with_types(&interface.env, std::slice::from_ref(&types.entries))
            .unwrap();
        assert_eq!(&at_once, arg);
        seen.extend(items.iter().cloned());
    }
    assert_eq!(seen.len(), 1000);
    assert_eq!(
        seen[999].to_string(),
        // Field names travel as their ids.
        "record { \"key-0999\"; record { 110 = 999 : nat64 } }"
    );
    // A budget under one entry: each travels alone.
    let alone = plan_of(&json!(things(5)), 10).unwrap();
    assert_eq!(
        alone.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        vec![1; 5]
    );
    // An empty file: no batch.
    assert!(plan_of(&json!([]), 1000).unwrap().is_empty());
    // An entry no restore call can carry is named by its index and key.
    let mut huge = things(3);
    huge[2] = json!(["k".repeat(MAX_ENTRY_BYTES as usize), { "n": 1 }]);
    let error = plan_of(&json!(huge), 1000).unwrap_err().to_string();
    assert!(
        error.contains("entry 2 (key \"kkk") && error.contains("alone encodes"),
        "{}",
        &error[..200]
    );
}

#[test]
fn a_key_given_twice_is_named_at_its_first_repeat() {
    let mut entries = things(10);
    entries[7] = json!(["key-0002", { "n": 70 }]);
    entries[5] = json!(["key-0008", { "n": 50 }]);
    let error = plan_of(&json!(entries), 1000).unwrap_err().to_string();
    assert!(
        error.contains("entry 7 (key \"key-0002\") repeats the key of entry 2"),
        "{error}"
    );
    entries[9] = json!(["key-0001", { "n": 90 }]);
    entries[6] = json!(["key-0001", { "n": 60 }]);
    let error = plan_of(&json!(entries), 1000).unwrap_err().to_string();
    assert!(
        error.contains("entry 6 (key \"key-0001\") repeats the key of entry 1"),
        "{error}"
    );
}

/// A batch read again is sent only if it is the batch checked: a file
/// changed between the reads stops the restore before the changed batch.
#[test]
fn a_file_changed_after_its_check_sends_nothing_more() {
    let interface = Interface::parse(DID).unwrap();
    let types = interface.map("things").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("things.json");
    let write = |entries: &[serde_json::Value]| {
        std::fs::write(&path, serde_json::to_vec(entries).unwrap()).unwrap()
    };
    let original = things(100);
    let encoder = Encoder::new(&interface, &types).unwrap();
    for change in 0..4 {
        write(&original);
        let plan = Plan::new(
            &encoder,
            "things",
            &path,
            None,
            &FieldMap::default(),
            200,
            true,
        )
        .unwrap();
        assert!(plan.batches.len() > 4);
        let mut changed = original.clone();
        // The first entry that differs.
        let differs = match change {
            0 => {
                changed[60] = json!(["key-0060", { "n": 61 }]);
                60
            }
            1 => {
                changed.truncate(99);
                99
            }
            2 => {
                changed.push(json!(["key-0100", { "n": 100 }]));
                100
            }
            _ => {
                changed.swap(60, 61);
                60
            }
        };
        write(&changed);
        let mut sent = 0;
        let error = plan
            .each_batch(0, &mut |_, first, count, _| {
                assert!(first + count as u64 <= differs, "a changed batch was sent");
                sent += count as u64;
                Ok(Flow::Next)
            })
            .unwrap_err()
            .to_string();
        // Every batch before the change was sent.
        assert!(sent + 20 > differs.min(100), "{sent}");
        assert!(error.contains("changed after it was checked"), "{error}");
    }
}

#[test]
fn a_canister_error_is_located_in_the_file_once() {
    assert_eq!(
        entry_index("entry 12 (key `a`b`): too big"),
        Some((12, ": too big"))
    );
    assert_eq!(entry_index("entry 3: bad"), Some((3, ": bad")));
    assert_eq!(entry_index("no entry"), None);
}

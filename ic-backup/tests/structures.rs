//! Every collection of ic-stable-structures through the derive's endpoints:
//! the club canister (a cell, a set, a map, a vec, a log, a min-heap)
//! backed up and restored through the CLI, and each kind's refusals. The
//! guards of every endpoint are in `tests/e2e_structures.rs`.

use crate::common;

use common::*;
use serde_json::{json, Value};

/// The club's structures, by endpoint name.
const STRUCTURES: [&str; 6] = ["config", "members", "dues", "posts", "audit", "jobs"];

/// A club offline, seeded with `n` of everything and configured.
fn club(n: u64) -> Offline {
    seeded_club("club", n)
}

/// Every structure's lossless backup, by name.
fn backups(club: &Offline, prefix: &str) -> Vec<(&'static str, std::path::PathBuf)> {
    STRUCTURES
        .into_iter()
        .map(|name| {
            let file = club.path(&format!("{prefix}-{name}.json"));
            club.ok(&["backup", name, "-o", file.to_str().unwrap()]);
            (name, file)
        })
        .collect()
}

/// What the canister's own queries say of it: how many of each, the job
/// its heap pops first.
fn state(club: &Offline) -> Vec<String> {
    ["counts", "next_job"]
        .into_iter()
        .map(|query| club.ok(&["call", query]))
        .collect()
}

/// A backup of each structure restores exactly into a fresh canister: its
/// backups again are the same files, its own queries answer the same (the
/// heap pops the same job first, the log and vec hold the same entries at
/// the same indices, the cell its configured value).
#[test]
fn each_structure_restores_exactly_into_a_fresh_canister() {
    let source = club(150);
    let files = backups(&source, "source");
    for (name, file) in &files {
        let entries = entries(file);
        let expected = match *name {
            "config" => 1,
            "audit" => 151,
            _ => 150,
        };
        assert_eq!(entries.as_array().unwrap().len(), expected, "{name}");
    }
    // Indexed structures travel by index; a set's values are null.
    assert_eq!(entries(&files[3].1)[7][0], json!("7"));
    assert_eq!(entries(&files[1].1)[0][1], Value::Null);

    let copy = Offline::new("club");
    for (name, file) in &files {
        let said = copy.ok(&["restore", name, "-i", file.to_str().unwrap()]);
        assert!(said.contains("restored into"), "{name}: {said}");
    }
    assert_eq!(state(&copy), state(&source));
    for ((name, original), (_, again)) in files.iter().zip(backups(&copy, "copy")) {
        assert_eq!(
            entries(original),
            entries(&again),
            "{name}: the restored canister's backup differs"
        );
    }
    // A second restore of the log and the heap takes what they hold
    // (a resumed restore), and --replace rewrites them whole.
    for name in ["audit", "jobs"] {
        let file = &files.iter().find(|(n, _)| *n == name).unwrap().1;
        copy.ok(&["restore", name, "-i", file.to_str().unwrap()]);
        copy.ok(&["restore", name, "-i", file.to_str().unwrap(), "--replace"]);
    }
    assert_eq!(state(&copy), state(&source));
}

/// Writes a lossless backup file of `name` whose entries are `entries`,
/// taking its header from `like`.
fn file_like(like: &std::path::Path, entries: Value, to: &std::path::Path) {
    let mut document: Value = serde_json::from_slice(&std::fs::read(like).unwrap()).unwrap();
    document["entries"] = entries;
    std::fs::write(to, serde_json::to_vec_pretty(&document).unwrap()).unwrap();
}

/// Each kind refuses what it cannot take, naming the entry, and the image
/// is unchanged byte for byte: a log's entry that differs from the one it
/// holds, a gap in a vec (in a later batch than the first), a heap's value
/// that would move, a cell's index other than 0, a post over its bound.
#[test]
fn each_kind_refuses_what_it_cannot_take_and_changes_nothing() {
    let source = club(40);
    let file = |name: &str| {
        let file = source.path(&format!("{name}.json"));
        source.ok(&["backup", name, "-o", file.to_str().unwrap()]);
        file
    };
    let (audit, posts, jobs, config) = (file("audit"), file("posts"), file("jobs"), file("config"));
    // The target's log starts with another event: every index differs.
    let target = Offline::new("club");
    target.ok(&["call", "pay", "(5 : nat64)"]);
    target.ok(&["call", "seed", "(40 : nat64)"]);
    // And a fresh one, with nothing to overwrite: a gap there.
    let fresh = Offline::new("club");
    fresh.ok(&["call", "counts"]);
    let refuse_on = |target: &Offline, name: &str, entries: Value, expected: &[&str]| {
        let before = std::fs::read(&target.image).unwrap();
        let edited = target.path(&format!("edited-{name}.json"));
        let like = match name {
            "audit" => &audit,
            "posts" => &posts,
            "jobs" => &jobs,
            _ => &config,
        };
        file_like(like, entries, &edited);
        let out = target.run(&[
            "restore",
            name,
            "-i",
            edited.to_str().unwrap(),
            "--batch-bytes",
            "2000",
        ]);
        let error = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}: accepted");
        for part in expected {
            assert!(error.contains(part), "{name}: `{part}` not in {error}");
        }
        target.assert_image_unchanged(&before);
    };
    let refuse =
        |name: &str, entries: Value, expected: &[&str]| refuse_on(&target, name, entries, expected);

    refuse(
        "audit",
        entries(&audit),
        &["index 0", "already holds another value"],
    );
    // A vec with a gap after its first batches: entries 0..30, then 45.
    let posts = entries(&posts);
    let last = posts[39].clone();
    let mut gapped: Vec<Value> = posts.as_array().unwrap()[..30].to_vec();
    gapped.push(json!(["45", last[1].clone()]));
    refuse_on(
        &fresh,
        "posts",
        Value::Array(gapped),
        &["index 45", "at most"],
    );
    // A heap entry less than its parent, past the end.
    let jobs = entries(&jobs);
    let mut small = jobs[0].clone();
    small[0] = json!("40");
    small[1]["due_nanos"] = json!("0");
    small[1]["id"] = json!("0");
    refuse("jobs", json!([small]), &["index 40", "its parent"]);
    // A cell has index 0 only.
    let mut config = entries(&config);
    config[0][0] = json!("1");
    refuse("config", config, &["index 1", "one value, at index 0"]);
    // A post over the vec's 1024-byte slot.
    let mut long = posts[0].clone();
    long[0] = json!("40");
    long[1]["text"] = json!("x".repeat(2000));
    refuse("posts", json!([long]), &["index 40", "at most 1024 bytes"]);
}

/// Across the offline and live paths: the offline club's backups restored
/// through `ic-backup serve` (the IC's HTTP interface) into a fresh
/// canister, whose live backups then hold the offline ones' entries, and
/// whose image, once served, answers the club's own queries as the source.
#[test]
fn backups_cross_between_the_offline_and_live_paths_through_serve() {
    use common::serving::{whoami, write_keys, Served};
    let source = club(60);
    let files = backups(&source, "offline");
    let fresh = Offline::new("club");
    fresh.ok(&["call", "counts"]);
    let (admin, _) = write_keys(fresh.dir.path());
    let served = Served::start(&fresh, &fresh.image, &["--controller", &whoami(&admin)]);
    let live = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ic-backup"))
            .args(["--network", &served.url, "--canister", &served.canister])
            .args(["--pem", admin.to_str().unwrap()])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "live {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    for (name, file) in &files {
        live(&["restore", name, "-i", file.to_str().unwrap()]);
    }
    for (name, file) in &files {
        let again = fresh.path(&format!("live-{name}.json"));
        live(&[
            "backup",
            name,
            "-o",
            again.to_str().unwrap(),
            "--max-bytes",
            "3000",
        ]);
        assert_eq!(
            entries(file),
            entries(&again),
            "{name}: live differs from offline"
        );
    }
    served.stop();
    assert_eq!(state(&fresh), state(&source));
}

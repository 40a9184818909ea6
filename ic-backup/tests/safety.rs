//! Nothing lost, as a user meets it: each case of what was reproduced with
//! the shipped `ic-backup` on the profiles canister offline, run on the real
//! wasm, and each failing on the code before the fix.

use crate::common;

use candid::Principal;
use canister_runner::{Canister, InstallArgs};
use common::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The number of batches a restore's progress file records, in whatever
/// shape it keeps it.
fn batches_recorded(path: &Path) -> u64 {
    let Ok(bytes) = std::fs::read(path) else {
        return 0;
    };
    let Ok(value) = serde_json::from_slice::<Value>(&bytes) else {
        return 0;
    };
    value
        .pointer("/progress/batches")
        .or_else(|| value.get("batches"))
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

/// Waits until the restore `child` has recorded `n` batches in `progress`,
/// failing if it ends first.
fn await_batches(child: &mut Child, progress: &Path, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(300);
    while batches_recorded(progress) < n {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the restore ended before it recorded {n} batches"
        );
        assert!(Instant::now() < deadline, "no progress recorded");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn case_1_a_restore_killed_once_two_batches_are_recorded_resumes_to_the_exact_map() {
    let offline = Offline::new("profiles");
    let source = offline.path("source.json");
    big_profiles_file(&source, 80, 200_000);
    let progress = with_suffix(&source, ".restore-progress");
    let mut child = offline
        .command(&offline.image, &["restore", "profiles", "-i", s(&source)])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    await_batches(&mut child, &progress, 2);
    child.kill().unwrap(); // SIGKILL, like Ctrl-C on a process that does not catch it
    child.wait().unwrap();

    let report: Value = serde_json::from_str(
        offline
            .ok(&["--json", "restore", "profiles", "-i", s(&source)])
            .trim(),
    )
    .unwrap();
    assert_eq!(report["entries"], 80, "{report}");
    assert_eq!(
        offline.profile_count_on(&offline.image),
        80,
        "every entry the report counts is in the map"
    );
}

/// Two images of the profiles canister of the same size, with different
/// profiles: 300 in `a`, 300 others in `b`.
fn two_images() -> (Offline, PathBuf) {
    let (offline, _) = Offline::with_profiles(300);
    let b = offline.path("b.bin");
    let other = offline.path("other.json");
    big_profiles_file(&other, 300, 30);
    offline.ok_on(&b, &["restore", "profiles", "-i", s(&other)]);
    assert_eq!(
        std::fs::metadata(&b).unwrap().len(),
        std::fs::metadata(&offline.image).unwrap().len()
    );
    (offline, b)
}

#[test]
fn case_2_resume_state_never_mixes_two_targets() {
    let (offline, b) = two_images();

    // backup: interrupted on A, then run on B to the same file.
    let out = offline.path("out.json");
    let page = ["--max-bytes", "4000"];
    let mut args = vec!["backup", "profiles", "-o", s(&out)];
    args.extend(page);
    let mut interrupted = args.clone();
    interrupted.extend(["--stop-after", "3"]);
    assert!(!offline
        .command(&offline.image, &interrupted)
        .output()
        .unwrap()
        .status
        .success());
    let run = offline.command(&b, &args).output().unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let fresh = offline.path("fresh.json");
    let mut fresh_args = vec!["backup", "profiles", "-o", s(&fresh)];
    fresh_args.extend(page);
    offline.ok_on(&b, &fresh_args);
    assert_eq!(entries(&out), entries(&fresh), "only B's entries");
    assert!(
        String::from_utf8_lossy(&run.stderr).contains("starting over"),
        "says why it did not resume: {}",
        String::from_utf8_lossy(&run.stderr)
    );

    // restore: interrupted into A, then the same file into a fresh image C.
    let source = offline.path("big.json");
    big_profiles_file(&source, 40, 200_000);
    let c = offline.path("c.bin");
    let restore = ["restore", "profiles", "-i", s(&source)];
    let mut stopped = restore.to_vec();
    stopped.extend(["--stop-after", "1"]);
    assert!(!offline
        .command(&offline.image, &stopped)
        .output()
        .unwrap()
        .status
        .success());
    offline.ok_on(&c, &restore);
    assert_eq!(offline.profile_count_on(&c), 40, "every batch went into C");

    // dump: interrupted on A, then B to the same file; A and B have one size.
    let dump = offline.path("dump.dat");
    let dump_args = [
        "dump",
        "-o",
        s(&dump),
        "--chunk-bytes",
        "65536",
        "--parallel",
        "4",
    ];
    let mut stopped = dump_args.to_vec();
    stopped.extend(["--stop-after", "8"]);
    assert!(!offline
        .command(&offline.image, &stopped)
        .output()
        .unwrap()
        .status
        .success());
    offline.ok_on(&b, &dump_args);
    assert!(
        std::fs::read(&dump).unwrap() == std::fs::read(&b).unwrap(),
        "the dump is B"
    );
}

#[test]
fn case_3_a_dump_never_extends_a_missing_or_short_partial_file() {
    let (offline, _) = Offline::with_profiles(200);
    let dump = offline.path("dump.dat");
    let partial = with_suffix(&dump, ".partial");
    let progress = with_suffix(&dump, ".progress");
    let args = [
        "dump",
        "-o",
        s(&dump),
        "--chunk-bytes",
        "65536",
        "--parallel",
        "4",
    ];
    let mut stopped = args.to_vec();
    stopped.extend(["--stop-after", "8"]);
    let image = std::fs::read(&offline.image).unwrap();
    let manifest = with_suffix(&dump, ".sha256");

    for damage in ["missing", "short"] {
        offline.fails(&stopped, 1);
        match damage {
            "missing" => std::fs::remove_file(&partial).unwrap(),
            _ => {
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&partial)
                    .unwrap();
                file.set_len(65536).unwrap();
            }
        }
        offline.ok(&args);
        assert!(
            std::fs::read(&dump).unwrap() == image,
            "{damage} partial: the dump is the image"
        );
        offline.ok(&["verify", "--manifest", s(&manifest)]);
        std::fs::remove_file(&dump).unwrap();
    }

    // The process dies between the final rename and removing the progress file.
    offline.fails(&stopped, 1);
    let saved = std::fs::read(&progress).unwrap();
    offline.ok(&args);
    std::fs::write(&progress, saved).unwrap();
    offline.ok(&args);
    assert!(
        std::fs::read(&dump).unwrap() == image,
        "the dump is the image"
    );
    offline.ok(&["verify", "--manifest", s(&manifest)]);
}

#[test]
fn case_4_load_refuses_what_is_not_a_matching_image_and_changes_nothing() {
    let (offline, _) = Offline::with_profiles(50);
    let before = std::fs::read(&offline.image).unwrap();
    let random = offline.path("random.dat");
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let bytes: Vec<u8> = (0..9_000_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    std::fs::write(&random, &bytes).unwrap();
    // The image is checked before anything is asked or written.
    let error = offline.fails(&["load", "-i", s(&random)], 2);
    assert!(
        error.contains("not a MemoryManager")
            && error.contains("--force")
            && error.contains("Nothing was written"),
        "{error}"
    );
    offline.assert_image_unchanged(&before);

    // An image of another canister: its maps differ.
    let ledger = Offline::new("ledger");
    ledger.ok(&["call", "set_nickname", "(7 : nat64, \"seven\")"]);
    let mut other = std::fs::read(&ledger.image).unwrap();
    other.resize(other.len().max(before.len()), 0);
    let other_path = offline.path("ledger.bin");
    std::fs::write(&other_path, &other).unwrap();
    let error = offline.fails(&["load", "-i", s(&other_path)], 2);
    assert!(
        error.contains("maps differ") && error.contains("memory"),
        "{error}"
    );
    offline.assert_image_unchanged(&before);

    // A matching image, but no terminal to confirm at and no --yes.
    let (source, _) = Offline::with_profiles(60);
    let error = offline.fails(&["load", "-i", s(&source.image)], 2);
    assert!(
        error.contains("--yes") && error.contains("blocks"),
        "{error}"
    );
    offline.assert_image_unchanged(&before);
}

#[test]
fn case_5_restore_replace_of_a_refused_file_changes_nothing_and_names_the_entry() {
    let (offline, _) = Offline::with_profiles(10);
    let before = std::fs::read(&offline.image).unwrap();
    let bad = offline.path("bad.json");
    big_profiles_file(&bad, 40, 200_000);
    let mut document: Value = serde_json::from_slice(&std::fs::read(&bad).unwrap()).unwrap();
    document[29][0] = json!("not-a-principal");
    std::fs::write(&bad, serde_json::to_vec(&document).unwrap()).unwrap();
    let error = offline.fails(&["restore", "profiles", "-i", s(&bad), "--replace"], 1);
    assert!(
        error.contains("entry 29 (key \"not-a-principal\")")
            && error.contains("nothing was restored"),
        "{error}"
    );
    offline.assert_image_unchanged(&before);
    // Over an image that does not exist yet, a refused file leaves none behind.
    let never = offline.path("never.bin");
    let run = offline
        .command(&never, &["restore", "profiles", "-i", s(&bad)])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    assert!(!never.exists(), "a refused restore created an image");

    // A key twice in the file is refused before anything is sent.
    document[29][0] = document[3][0].clone();
    std::fs::write(&bad, serde_json::to_vec(&document).unwrap()).unwrap();
    let error = offline.fails(&["restore", "profiles", "-i", s(&bad), "--replace"], 2);
    assert!(
        error.contains("entry 29") && error.contains("entry 3"),
        "{error}"
    );
    offline.assert_image_unchanged(&before);
}

#[test]
fn case_6_verify_refuses_a_bad_manifest_without_panicking() {
    let (offline, _) = Offline::with_profiles(5);
    let manifest = offline.path("m.sha256");
    let size = std::fs::metadata(&offline.image).unwrap().len();
    let digest = "0".repeat(64);
    for (block_size, blocks, expected) in [
        (0u64, 0usize, "block_size between"),
        (32 << 20, 1, "block_size between"),
        (65536, 3, "block digests"),
    ] {
        let document = json!({ "size": size, "sha256": digest, "block_size": block_size, "blocks": vec![digest.clone(); blocks] });
        std::fs::write(&manifest, document.to_string()).unwrap();
        let error = offline.fails(&["verify", "--manifest", s(&manifest)], 2);
        assert!(
            error.contains(expected) && error.contains("m.sha256"),
            "{error}"
        );
    }
    std::fs::write(&manifest, "{\"size\": -1}").unwrap();
    let error = offline.fails(&["verify", "--manifest", s(&manifest)], 2);
    assert!(error.contains("not a manifest"), "{error}");
}

#[test]
fn case_7_backup_names_every_entry_too_large_to_restore_and_the_dump_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("stable_memory.bin");
    let wasm_bytes = std::fs::read(wasm("profiles")).unwrap();
    let mut canister = Canister::install(&wasm_bytes, InstallArgs::default()).unwrap();
    let big_owner = Principal::from_slice(&[5; 29]);
    for n in 1..=8u8 {
        // 1.95 MiB: under the 2 MiB a call may carry, over what a restore
        // call can carry with its header and the rest of the message.
        let name = if n == 5 {
            "B".repeat(2_050_000)
        } else {
            format!("user{n}")
        };
        let arg = format!("(record {{ username = opt \"{name}\" }})");
        let arg = candid_parser::parse_idl_args(&arg)
            .unwrap()
            .to_bytes()
            .unwrap();
        canister
            .update(Principal::from_slice(&[n; 29]), "set_profile", &arg)
            .result
            .unwrap();
    }
    canister.save_image(&image).unwrap();
    let offline = Offline {
        wasm: wasm("profiles"),
        image: image.clone(),
        dir,
    };
    let before = std::fs::read(&image).unwrap();

    let out = offline.path("profiles.json");
    let error = offline.fails(&["backup", "profiles", "-o", s(&out)], 1);
    assert!(
        error.contains(&big_owner.to_text())
            && error.contains("too large")
            && error.contains("dump"),
        "{error}"
    );
    let document: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(document["entries"].as_array().unwrap().len(), 7);
    assert_eq!(document["skipped"], json!([big_owner.to_text()]));

    // What was backed up restores; the raw dump holds the rest.
    let fresh = offline.path("fresh.bin");
    offline.ok_on(&fresh, &["restore", "profiles", "-i", s(&out)]);
    assert_eq!(offline.profile_count_on(&fresh), 7);
    let dump = offline.path("dump.dat");
    offline.ok(&["dump", "-o", s(&dump)]);
    assert!(std::fs::read(&dump).unwrap() == before);
}

/// A backup file holding a value the canister cannot read back (here a
/// 3-byte hash where the type is `[u8; 32]`, as a hand edit or a build with
/// `Vec<u8>` there would leave it) is refused by `restore --replace`
/// before the map is cleared: the image is byte for byte as it was.
#[test]
fn case_8_restore_replace_of_a_value_the_canister_cannot_read_refuses_before_clearing() {
    let offline = Offline::new("strict_fixture");
    let hash = "\\07".repeat(32);
    offline.ok(&[
        "call",
        "restore_hashes",
        &format!("(vec {{ record {{ 1 : nat64; record {{ hash = blob \"{hash}\"; n = 1 : nat8 }} }}; record {{ 2 : nat64; record {{ hash = blob \"{hash}\"; n = 2 : nat8 }} }} }})"),
    ]);
    let file = offline.path("hashes.json");
    offline.ok(&["backup", "hashes", "-o", s(&file)]);
    let mut document: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    document["entries"][1][1]["hash"] = json!("010203");
    std::fs::write(&file, serde_json::to_vec(&document).unwrap()).unwrap();
    let before = std::fs::read(&offline.image).unwrap();
    let error = offline.fails(&["restore", "hashes", "--replace", "-i", s(&file)], 1);
    assert!(
        error.contains("validate_hashes")
            && error.contains("entry 1 (key \"2\")")
            && error.contains("invalid length 3, expected an array of length 32"),
        "{error}"
    );
    offline.assert_image_unchanged(&before);
}

/// A lossless file names its map: restored into another map of the same
/// types it is refused, nothing sent, unless `--from-map` names the file's
/// map (a wrong name is refused too).
#[test]
fn case_9_a_lossless_file_of_another_map_is_refused_unless_named() {
    let offline = Offline::new("strict_fixture");
    let hash = "\\07".repeat(32);
    offline.ok(&[
        "call",
        "restore_hashes",
        &format!(
            "(vec {{ record {{ 1 : nat64; record {{ hash = blob \"{hash}\"; n = 1 : nat8 }} }} }})"
        ),
    ]);
    let file = offline.path("hashes.json");
    offline.ok(&["backup", "hashes", "-o", s(&file)]);
    let before = std::fs::read(&offline.image).unwrap();
    let error = offline.fails(&["restore", "archive", "-i", s(&file)], 2);
    assert!(
        error.contains("is a backup of the map `hashes`, not `archive`")
            && error.contains("--from-map hashes")
            && error.contains("Nothing was sent"),
        "{error}"
    );
    let error = offline.fails(
        &[
            "restore",
            "archive",
            "-i",
            s(&file),
            "--from-map",
            "tallies",
        ],
        2,
    );
    assert!(error.contains("is a backup of the map `hashes`"), "{error}");
    offline.assert_image_unchanged(&before);
    offline.ok(&["restore", "archive", "-i", s(&file), "--from-map", "hashes"]);
    let copied = offline.ok(&["call", "backup_archive", "(0 : nat64, 10 : nat64)"]);
    assert!(copied.contains("n = 1 : nat8"), "{copied}");
}

/// One backup file restored into two canisters at once (here two images of
/// the profiles canister): the second run is refused while the first holds
/// the file's restore progress, naming it, and leaves its image byte for
/// byte as it was; the first goes on to the end. Before, both ran over one
/// progress file: each cleared the other's temporary file (a bare "No such
/// file" for one) and wrote its progress over the other's.
#[test]
fn case_10_a_second_restore_of_a_file_being_restored_is_refused_and_changes_nothing() {
    let (offline, b) = two_images();
    let source = offline.path("source.json");
    big_profiles_file(&source, 80, 200_000);
    let progress = with_suffix(&source, ".restore-progress");
    // What the first restore must leave: the same restore, run alone.
    let alone = offline.path("alone.bin");
    std::fs::copy(&offline.image, &alone).unwrap();
    let mut first = offline
        .command(
            &offline.image,
            &["--json", "restore", "profiles", "-i", s(&source)],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    await_batches(&mut first, &progress, 1);
    let before = std::fs::read(&b).unwrap();
    let second = offline
        .command(&b, &["restore", "profiles", "-i", s(&source)])
        .output()
        .unwrap();
    let error = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{error}");
    assert!(
        error.contains(&format!("{} is in use by process", progress.display()))
            && error.contains("-i source.json")
            && error.contains("another `restore` on the same file is running")
            && error.contains("nothing was changed"),
        "{error}"
    );
    assert!(
        std::fs::read(&b).unwrap() == before,
        "the refused restore changed its image"
    );
    let first = first.wait_with_output().unwrap();
    assert!(
        first.status.success(),
        "the first restore failed: {}",
        String::from_utf8_lossy(&first.stderr)
    );
    let report: Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(report["entries"], 80, "{report}");
    assert!(!progress.exists() && !with_suffix(&progress, ".lock").exists());
    offline.ok_on(&alone, &["restore", "profiles", "-i", s(&source)]);
    let (got, expected) = (offline.path("got.json"), offline.path("expected.json"));
    offline.ok(&["backup", "profiles", "-o", s(&got)]);
    offline.ok_on(&alone, &["backup", "profiles", "-o", s(&expected)]);
    assert!(
        std::fs::read(&got).unwrap() == std::fs::read(&expected).unwrap(),
        "the first restore's map is not the one it makes alone"
    );
}

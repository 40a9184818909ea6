//! `backup --consistent` and `dump --consistent` against `ic-backup serve`:
//! one cut of a canister that keeps being written, where a paged backup
//! mixes moments; the file byte for byte what the snapshot folder gives
//! offline; the snapshot gone after (or kept and loaded back); killed at
//! random moments and run again, the same file and no snapshot left; the
//! refusals, saying what to do.

use crate::common;

use common::net::*;
use common::serving::text;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// `n` profiles, every one's username `batch-<k>`, about `size` bytes each:
/// one write batch.
fn batch_file(path: &Path, n: u32, k: u32, size: usize) {
    let entries: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            serde_json::json!([common::principal(i), {
                "username": format!("batch-{k}"),
                "email": "e".repeat(size),
                "password": null,
                "updated_time_msecs": null,
            }])
        })
        .collect();
    std::fs::write(path, serde_json::Value::Array(entries).to_string()).unwrap();
}

/// The batches a backup file's entries come from.
fn batches(path: &Path) -> std::collections::BTreeSet<String> {
    common::entries(path)
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry[1]["username"][0].as_str().unwrap().to_string())
        .collect()
}

/// While another client keeps rewriting the whole map in one batch after
/// another, a consistent backup holds one batch, where a paged backup of
/// the same run holds several; the consistent one is byte for byte what
/// `ic-backup --snapshot` gives on the snapshot it kept, and its image
/// (`dump --consistent`) is the snapshot's stable memory; the snapshot is
/// deleted unless kept, and nothing is left beside the output.
#[test]
fn a_consistent_backup_is_one_moment_where_a_paged_one_mixes_them() {
    let net = Net::start();
    let n = 120;
    let first = net.offline.path("batch-0.json");
    batch_file(&first, n, 0, 3000);
    net.backup_ok(&["restore", "profiles", "-i", first.to_str().unwrap()]);
    let writing = AtomicBool::new(true);
    let (paged, consistent) = std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut k = 1;
            while writing.load(Ordering::SeqCst) {
                let file = net.offline.path(&format!("batch-{k}.json"));
                batch_file(&file, n, k, 3000);
                net.backup_ok(&["restore", "profiles", "-i", file.to_str().unwrap()]);
                k += 1;
            }
        });
        // The paged backup, one small page at a time, sees several batches.
        let mut paged = Default::default();
        for attempt in 0..10 {
            let out = format!("paged-{attempt}.json");
            net.backup_ok(&[
                "backup",
                "profiles",
                "-o",
                &out,
                "--parallel",
                "1",
                "--max-bytes",
                "4000",
            ]);
            paged = batches(&net.offline.path(&out));
            if paged.len() > 1 {
                break;
            }
        }
        let consistent = (0..3)
            .map(|attempt| {
                let out = format!("consistent-{attempt}.json");
                net.backup_ok(&["backup", "profiles", "-o", &out, "--consistent", "--keep"]);
                batches(&net.offline.path(&out))
            })
            .collect::<Vec<_>>();
        writing.store(false, Ordering::SeqCst);
        (paged, consistent)
    });
    assert!(
        paged.len() > 1,
        "the paged backup saw one batch only: {paged:?}"
    );
    for cut in &consistent {
        assert_eq!(cut.len(), 1, "a consistent backup mixes batches: {cut:?}");
    }
    // Each kept snapshot, downloaded and backed up offline, gives the file.
    let kept = net.snapshots();
    assert_eq!(kept.len(), 3, "{kept:?}");
    for (attempt, id) in kept.iter().enumerate() {
        let dir = net.offline.path(&format!("kept-{attempt}"));
        net.backup_ok(&["snapshot", "download", id, "-o", dir.to_str().unwrap()]);
        let offline = std::process::Command::new(env!("CARGO_BIN_EXE_ic-backup"))
            .current_dir(net.offline.dir.path())
            .args([
                "--snapshot",
                dir.to_str().unwrap(),
                "backup",
                "profiles",
                "-o",
            ])
            .arg(format!("offline-{attempt}.json"))
            .output()
            .unwrap();
        ok_output(offline, "the offline backup of the kept snapshot");
        let read = |name: String| std::fs::read(net.offline.path(&name)).unwrap();
        assert!(
            read(format!("offline-{attempt}.json")) == read(format!("consistent-{attempt}.json")),
            "the consistent backup {attempt} is not the snapshot's offline backup"
        );
        net.backup_ok(&["snapshot", "delete", id]);
    }
    // dump --consistent: the image is the snapshot's stable memory; without
    // --keep the snapshot goes; nothing is left beside the output.
    net.backup_ok(&["dump", "-o", "cut.dat", "--consistent", "--keep"]);
    let id = net.snapshots().pop().unwrap();
    let dir = net.offline.path("dumped");
    net.backup_ok(&["snapshot", "download", &id, "-o", dir.to_str().unwrap()]);
    assert!(
        std::fs::read(net.offline.path("cut.dat")).unwrap()
            == std::fs::read(dir.join("stable_memory.bin")).unwrap()
    );
    net.backup_ok(&["snapshot", "delete", &id]);
    net.backup_ok(&["backup", "profiles", "-o", "gone.json", "--consistent"]);
    assert!(net.snapshots().is_empty());
    for left in [
        "gone.json.cut",
        "gone.json.cut.json",
        "cut.dat.cut",
        "cut.dat.cut.json",
    ] {
        assert!(!net.offline.path(left).exists(), "{left} left behind");
    }
}

/// A consistent backup killed (SIGKILL) at 20 moments spread over an
/// uninterrupted run, and run again, writes the uninterrupted run's file
/// byte for byte and leaves no snapshot and nothing beside the output.
#[test]
fn a_consistent_backup_killed_at_any_moment_finishes_and_leaves_no_snapshot() {
    let net = Net::start();
    let source = net.offline.path("source.json");
    batch_file(&source, 80, 0, 2000);
    net.backup_ok(&["restore", "profiles", "-i", source.to_str().unwrap()]);
    let began = std::time::Instant::now();
    net.backup_ok(&["backup", "profiles", "-o", "reference.json", "--consistent"]);
    let duration = began.elapsed();
    let expected = std::fs::read(net.offline.path("reference.json")).unwrap();
    let mut state = 0x5EED_0027_u64;
    let mut cut_short = 0;
    for trial in 0..20u32 {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let jitter = ((state >> 33) % 1000) as f64 / 1000.0;
        let delay = duration.mul_f64((f64::from(trial) + jitter) / 20.0);
        let out = format!("killed-{trial}.json");
        let mut child = net
            .ic_backup_command("admin", &["backup", "profiles", "-o", &out, "--consistent"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        cut_short += usize::from(net.offline.path(&format!("{out}.cut.json")).exists());
        net.backup_ok(&["backup", "profiles", "-o", &out, "--consistent"]);
        assert!(
            std::fs::read(net.offline.path(&out)).unwrap() == expected,
            "trial {trial}: the file after a rerun"
        );
        assert!(net.snapshots().is_empty(), "trial {trial}: a snapshot left");
        assert!(!net.offline.path(&format!("{out}.cut")).exists());
        assert!(!net.offline.path(&format!("{out}.cut.json")).exists());
    }
    assert!(
        cut_short >= 5,
        "only {cut_short} kills came while a cut was held"
    );
}

/// Past the limit of 10 snapshots the consistent backup is refused, saying
/// `--replace`, and works with it; an admin of the canister who is not a
/// controller is refused, told to back up paged; a snapshot kept with
/// `--keep` rolls the canister back when loaded. A run to an output
/// another run is cutting is refused before it takes a snapshot.
#[test]
fn consistent_refusals_say_what_to_do() {
    let net = Net::start();
    net.set_profile("ada");
    let kept = net.ic_backup(
        "admin",
        &[
            "backup",
            "profiles",
            "-o",
            "kept.json",
            "--consistent",
            "--keep",
        ],
    );
    ok_output(kept, "the kept cut");
    let kept = net.snapshots().pop().unwrap();
    // A run to an output another run is cutting (its state's lock held,
    // as that run holds it) is refused before it takes a snapshot.
    let busy = net.offline.path("busy.json.cut.json.lock");
    let holder = "process 7 (ic-backup backup profiles -o busy.json --consistent)";
    let held = std::fs::File::create(&busy).unwrap();
    std::io::Write::write_all(&mut &held, holder.as_bytes()).unwrap();
    held.lock().unwrap();
    let snapshots = net.snapshots();
    let out = net.ic_backup(
        "admin",
        &["backup", "profiles", "-o", "busy.json", "--consistent"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let said = text(&out.stderr);
    assert!(
        said.contains(&format!("busy.json.cut.json is in use by {holder}"))
            && said.contains("another consistent run on the same file is running")
            && said.contains("nothing was changed"),
        "{said}"
    );
    assert_eq!(net.snapshots(), snapshots, "no snapshot was taken");
    assert!(!net.offline.path("busy.json.cut.json").exists());
    assert!(!net.offline.path("busy.json.cut").exists());
    assert_eq!(std::fs::read_to_string(&busy).unwrap(), holder);
    drop(held);
    for _ in 0..9 {
        net.backup_ok(&["snapshot", "take"]);
    }
    let out = net.ic_backup(
        "admin",
        &["backup", "profiles", "-o", "full.json", "--consistent"],
    );
    assert!(!out.status.success());
    let said = text(&out.stderr);
    assert!(
        said.contains("maximum number of snapshots") && said.contains("--replace"),
        "{said}"
    );
    assert!(!net.offline.path("full.json.cut.json").exists());
    let victim = net.snapshots()[3].clone();
    net.backup_ok(&[
        "backup",
        "profiles",
        "-o",
        "full.json",
        "--consistent",
        "--replace",
        &victim,
    ]);
    assert!(!net.snapshots().contains(&victim));
    // An admin (authorized by the canister), not a controller.
    let authorize = format!("(principal \"{}\")", net.stranger);
    net.ok(&["canister", "call", &net.canister(), "authorize", &authorize]);
    let out = net.ic_backup(
        "stranger",
        &["backup", "profiles", "-o", "admin.json", "--consistent"],
    );
    assert!(!out.status.success());
    let said = text(&out.stderr);
    assert!(
        said.contains("IC0512") && said.contains("paged `backup`"),
        "{said}"
    );
    ok_output(
        net.ic_backup("stranger", &["backup", "profiles", "-o", "admin.json"]),
        "the admin's paged backup",
    );
    // The kept snapshot rolls a later change back.
    net.set_profile("bob");
    net.backup_ok(&["snapshot", "load", &kept, "--stop"]);
    let wasm = net.offline.wasm.to_str().unwrap().to_string();
    net.ok(&[
        "canister",
        "install",
        &net.canister(),
        "--mode",
        "upgrade",
        "--wasm",
        &wasm,
        "--yes",
    ]);
    let get = ["canister", "call", &net.canister(), "get_profile", "()"];
    assert!(net.ok(&get).contains("\"ada\""), "{}", net.ok(&get));
}

/// `check-upgrade` of a live canister: one cut of it, checked on a copy
/// (the profiles canister's next release reads all it holds), and nothing
/// left behind: no snapshot, no cut beside the module.
#[test]
fn check_upgrade_of_a_live_canister_runs_on_one_cut_and_leaves_nothing() {
    let net = Net::start();
    let next = net.offline.path("next.wasm");
    std::fs::copy(common::wasm("profiles_next"), &next).unwrap();
    let said = net.backup_ok(&["check-upgrade", next.to_str().unwrap()]);
    assert!(
        said.contains("the upgrade hooks ran")
            && said.contains("every value reads as the new type"),
        "{said}"
    );
    assert!(net.snapshots().is_empty(), "the cut's snapshot is deleted");
    let left: Vec<_> = std::fs::read_dir(net.offline.dir.path())
        .unwrap()
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("next.wasm."))
        .collect();
    assert!(left.is_empty(), "left beside the module: {left:?}");
    // Offline over a snapshot folder: the same verdict, the folder unchanged.
    let id = net.backup_ok(&["snapshot", "take"]).trim().to_string();
    let folder = net.offline.path("snapshot");
    net.backup_ok(&["snapshot", "download", &id, "-o", folder.to_str().unwrap()]);
    let stable = std::fs::read(folder.join("stable_memory.bin")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ic-backup"))
        .args([
            "--snapshot",
            folder.to_str().unwrap(),
            "check-upgrade",
            next.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let said = text(&out.stdout);
    assert!(out.status.success(), "{said}{}", text(&out.stderr));
    assert!(said.contains("every value reads as the new type"), "{said}");
    assert!(std::fs::read(folder.join("stable_memory.bin")).unwrap() == stable);
    // A stranger is no controller: refused, saying what to do.
    let out = net.ic_backup("stranger", &["check-upgrade", next.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("IC0512"),
        "{}",
        text(&out.stderr)
    );
}

//! `ic-backup snapshot` against `ic-backup serve`, with the real icp-cli
//! on the other side: folders move between the two tools both ways and
//! leave the canister byte for byte as the snapshot; downloads and uploads
//! killed at any moment finish when run again; a folder that is not the
//! download's is refused.

use crate::common;

use common::net::*;
use common::serving::text;
use std::path::Path;

/// The three parts of a snapshot folder, read.
fn parts(dir: &Path) -> Vec<Vec<u8>> {
    ["wasm_module.bin", "wasm_memory.bin", "stable_memory.bin"]
        .iter()
        .map(|file| std::fs::read(dir.join(file)).unwrap_or_default())
        .collect()
}

/// The canister as it is now, as a folder: a snapshot taken and downloaded
/// by icp-cli (the canister stopped around it, as icp-cli asks).
fn as_it_is(net: &Net, name: &str) -> Vec<Vec<u8>> {
    let canister = net.canister();
    net.ok(&["canister", "stop", &canister]);
    let json = net.ok(&["canister", "snapshot", "create", &canister, "--json"]);
    net.ok(&["canister", "start", &canister]);
    let id = snapshot_id(&json);
    let dir = net.offline.path(name);
    net.ok(&[
        "canister",
        "snapshot",
        "download",
        &canister,
        &id,
        "-o",
        dir.to_str().unwrap(),
    ]);
    net.ok(&["canister", "snapshot", "delete", &canister, &id]);
    parts(&dir)
}

/// A folder `ic-backup snapshot download` wrote is uploaded and restored by
/// icp-cli; a folder icp-cli downloaded is uploaded and loaded by
/// `ic-backup snapshot`. Either way the canister is then the snapshot,
/// byte for byte (module, heap and stable memory).
#[test]
fn folders_move_between_ic_backup_and_icp_cli() {
    let net = Net::start();
    let canister = net.canister();
    net.set_profile("ada");
    // ic-backup takes (stopping the canister around it) and downloads.
    let id = net
        .backup_ok(&["snapshot", "take", "--stop"])
        .trim()
        .to_string();
    assert_eq!(net.snapshots(), vec![id.clone()]);
    let mine = net.offline.path("mine");
    let said = net.backup_ok(&[
        "snapshot",
        "download",
        &id,
        "-o",
        mine.to_str().unwrap(),
        "--parallel",
        "4",
    ]);
    assert!(said.contains("verified"), "{said}");
    assert!(!mine.join(".ic-backup-download.json").exists());
    let snapshot = parts(&mine);
    net.set_profile("bob");
    // icp-cli uploads ic-backup's folder and restores it.
    let uploaded = snapshot_id(&net.ok(&[
        "canister",
        "snapshot",
        "upload",
        &canister,
        "-i",
        mine.to_str().unwrap(),
        "--json",
    ]));
    net.ok(&["canister", "stop", &canister]);
    net.ok(&["canister", "snapshot", "restore", &canister, &uploaded]);
    net.ok(&["canister", "start", &canister]);
    assert!(
        as_it_is(&net, "after-icp") == snapshot,
        "icp-cli's restore of ic-backup's folder"
    );
    // The other way: icp-cli downloads, ic-backup uploads and loads.
    net.set_profile("cyd");
    let theirs = net.offline.path("theirs");
    net.ok(&[
        "canister",
        "snapshot",
        "download",
        &canister,
        &id,
        "-o",
        theirs.to_str().unwrap(),
    ]);
    assert!(parts(&theirs) == snapshot);
    let again = net
        .backup_ok(&[
            "snapshot",
            "upload",
            theirs.to_str().unwrap(),
            "--parallel",
            "3",
        ])
        .trim()
        .to_string();
    assert!(!theirs.join(".ic-backup-upload.json").exists());
    net.backup_ok(&["snapshot", "load", &again, "--stop"]);
    assert!(
        as_it_is(&net, "after-ic-backup") == snapshot,
        "ic-backup's load of icp-cli's folder"
    );
    assert_eq!(
        net.ok_status(),
        "Running",
        "--stop starts the canister again"
    );
    // The profile is the snapshot's again, live.
    let get = ["canister", "call", &canister, "get_profile", "()"];
    let upgraded = net.ok(&[
        "canister",
        "install",
        &canister,
        "--mode",
        "upgrade",
        "--wasm",
        net.offline.wasm.to_str().unwrap(),
        "--yes",
    ]);
    drop(upgraded);
    assert!(net.ok(&get).contains("\"ada\""), "{}", net.ok(&get));
    // list, delete.
    let listed = net.backup_ok(&["snapshot", "list"]);
    assert!(listed.contains(&id) && listed.contains(&again), "{listed}");
    net.backup_ok(&["snapshot", "delete", &again]);
    assert!(!net.backup_ok(&["snapshot", "list"]).contains(&again));
}

impl Net {
    /// The canister's status word (`Running`, `Stopped`), as icp-cli reads it.
    fn ok_status(&self) -> String {
        let json: serde_json::Value =
            serde_json::from_str(&self.ok(&["canister", "status", &self.canister(), "--json"]))
                .unwrap();
        json["status"].as_str().unwrap().to_string()
    }
}

/// A download into a folder that holds another snapshot, or an unfinished
/// download of another one, is refused, changing nothing; an unfinished
/// folder is no snapshot to work on offline; a stranger is refused with
/// what to do.
#[test]
fn a_folder_that_is_not_the_download_s_is_refused() {
    let net = Net::start();
    let first = net.backup_ok(&["snapshot", "take"]).trim().to_string();
    let second = net.backup_ok(&["snapshot", "take"]).trim().to_string();
    let dir = net.offline.path("snap");
    let dir_text = dir.to_str().unwrap();
    net.backup_ok(&["snapshot", "download", &first, "-o", dir_text]);
    let before = parts(&dir);
    let out = net.ic_backup("admin", &["snapshot", "download", &second, "-o", dir_text]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("already holds a snapshot"),
        "{}",
        text(&out.stderr)
    );
    assert!(parts(&dir) == before);
    // The same download again (as after a run cut short once it had
    // verified the folder and removed its progress file): nothing to do.
    let again = net.backup_ok(&["snapshot", "download", &first, "-o", dir_text]);
    assert!(
        again.contains("already holds snapshot") && again.contains("nothing to download"),
        "{again}"
    );
    assert!(parts(&dir) == before);
    // A download cut short between its progress file and the metadata.json
    // it records (the folder holds only those two) finishes when run again.
    // The progress file of a download of `first` into `folder`, cut short
    // before any part was done, recording `metadata_sha256`.
    let cut_short = |folder: &Path, metadata_sha256: &str| -> String {
        std::fs::create_dir_all(folder).unwrap();
        let progress = serde_json::json!({
            "network": net.served().url, "canister": net.canister(), "snapshot_id": first,
            "metadata_sha256": metadata_sha256, "done": {}
        })
        .to_string();
        std::fs::write(folder.join(".ic-backup-download.json"), &progress).unwrap();
        progress
    };
    let download = |id: &str, folder: &Path| {
        net.ic_backup(
            "admin",
            &["snapshot", "download", id, "-o", folder.to_str().unwrap()],
        )
    };
    let between = net.offline.path("between");
    std::fs::create_dir_all(between.join("wasm_chunk_store")).unwrap();
    let metadata = std::fs::read(dir.join("metadata.json")).unwrap();
    cut_short(&between, &sha256_hex(&metadata));
    ok_output(download(&first, &between), "the download cut short");
    assert!(parts(&between) == before);
    assert!(std::fs::read(between.join("metadata.json")).unwrap() == metadata);
    assert!(!between.join(".ic-backup-download.json").exists());
    // One whose progress file records other metadata is refused, and no
    // metadata.json is written.
    let other = net.offline.path("other-metadata");
    let progress = cut_short(&other, "00");
    let out = download(&first, &other);
    assert!(
        text(&out.stderr).contains("is not the snapshot's any more"),
        "{}",
        text(&out.stderr)
    );
    assert!(!other.join("metadata.json").exists());
    assert_eq!(
        std::fs::read_to_string(other.join(".ic-backup-download.json")).unwrap(),
        progress
    );
    // An unfinished download (its progress file left) belongs to its snapshot.
    let unfinished = net.offline.path("unfinished");
    cut_short(&unfinished, "00");
    let out = download(&second, &unfinished);
    assert!(
        text(&out.stderr).contains("unfinished download of snapshot"),
        "{}",
        text(&out.stderr)
    );
    let offline = std::process::Command::new(env!("CARGO_BIN_EXE_ic-backup"))
        .args([
            "--snapshot",
            unfinished.to_str().unwrap(),
            "inspect",
            unfinished.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!offline.status.success());
    // A stranger: snapshots are for controllers, and the refusal says so.
    let out = net.ic_backup("stranger", &["snapshot", "take"]);
    assert!(!out.status.success());
    let said = text(&out.stderr);
    assert!(
        said.contains("IC0512") && said.contains("paged `backup`"),
        "{said}"
    );
}

/// A download and an upload killed (SIGKILL) at moments spread over an
/// uninterrupted run, then run again, end as the uninterrupted run does:
/// the same folder, byte for byte; a snapshot that loads as the folder.
#[test]
fn transfers_killed_at_any_moment_finish_when_run_again() {
    let net = Net::start();
    // Enough data for many slices: profiles of about 100 KiB each.
    let source = net.offline.path("big.json");
    common::big_profiles_file(&source, 60, 100_000);
    net.backup_ok(&["restore", "profiles", "-i", source.to_str().unwrap()]);
    let id = net.backup_ok(&["snapshot", "take"]).trim().to_string();
    let reference = net.offline.path("reference");
    net.backup_ok(&[
        "snapshot",
        "download",
        &id,
        "-o",
        reference.to_str().unwrap(),
        "--parallel",
        "2",
    ]);
    let expected = parts(&reference);
    assert!(
        expected[2].len() > 4 * 2_000_000,
        "{} bytes",
        expected[2].len()
    );
    let spawn = |args: &[&str]| {
        net.ic_backup_command("admin", args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let began = std::time::Instant::now();
    let timed = net.offline.path("timed");
    let out = spawn(&[
        "snapshot",
        "download",
        &id,
        "-o",
        timed.to_str().unwrap(),
        "--parallel",
        "2",
    ])
    .wait_with_output()
    .unwrap();
    assert!(out.status.success());
    let duration = began.elapsed();
    // How many kills left a transfer half done (the rest came before it
    // began or after it ended).
    let (mut downloads_cut, mut uploads_cut) = (0, 0);
    const TRIALS: u32 = 4;
    for trial in 0..TRIALS {
        let dir = net.offline.path(&format!("killed-{trial}"));
        let args = [
            "snapshot",
            "download",
            &id,
            "-o",
            dir.to_str().unwrap(),
            "--parallel",
            "2",
        ];
        let mut child = spawn(&args);
        std::thread::sleep(duration.mul_f64(f64::from(trial) / f64::from(TRIALS) + 0.05));
        let _ = child.kill();
        let _ = child.wait();
        downloads_cut += usize::from(dir.join(".ic-backup-download.json").exists());
        net.backup_ok(&args);
        assert!(
            parts(&dir) == expected,
            "trial {trial}: the folder after a rerun"
        );
        let meta = |dir: &Path| std::fs::read(dir.join("metadata.json")).unwrap();
        assert!(meta(&dir) == meta(&reference));
        // Uploaded, killed, run again: the snapshot loads as the folder.
        let mut child = spawn(&[
            "snapshot",
            "upload",
            dir.to_str().unwrap(),
            "--parallel",
            "2",
        ]);
        std::thread::sleep(duration.mul_f64(f64::from(trial) / f64::from(TRIALS) + 0.05));
        let _ = child.kill();
        let _ = child.wait();
        uploads_cut += usize::from(dir.join(".ic-backup-upload.json").exists());
        let uploaded = net
            .backup_ok(&["snapshot", "upload", dir.to_str().unwrap()])
            .trim()
            .to_string();
        let back = net.offline.path(&format!("back-{trial}"));
        net.backup_ok(&[
            "snapshot",
            "download",
            &uploaded,
            "-o",
            back.to_str().unwrap(),
        ]);
        assert!(
            parts(&back) == expected,
            "trial {trial}: the uploaded snapshot"
        );
        // Room for the next trial's snapshots.
        for listed in net.snapshots() {
            if listed != id {
                net.backup_ok(&["snapshot", "delete", &listed]);
            }
        }
    }
    assert!(
        downloads_cut >= 2 && uploads_cut >= 2,
        "kills during the transfers: {downloads_cut} downloads, {uploads_cut} uploads"
    );
}

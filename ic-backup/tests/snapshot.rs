//! A snapshot folder as `dfx canister snapshot download` writes it (its
//! module gzip-compressed), used as it is by the offline commands.

use crate::common;

use common::*;
use std::path::Path;
use std::process::Command;

fn on_snapshot(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ic-backup"))
        .arg("--snapshot")
        .arg(dir)
        .args(args)
        .output()
        .unwrap()
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = on_snapshot(dir, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_downloaded_snapshot_works_as_it_is() {
    let (offline, _) = Offline::with_profiles(60);
    let dir = offline.path("snapshot");
    snapshot_folder(&offline, &dir);

    // Backups from the folder equal backups from the wasm and image.
    let from_image = offline.path("from-image.json");
    offline.ok(&["backup", "profiles", "-o", from_image.to_str().unwrap()]);
    let from_snapshot = offline.path("from-snapshot.json");
    ok(
        &dir,
        &["backup", "profiles", "-o", from_snapshot.to_str().unwrap()],
    );
    assert_eq!(entries(&from_snapshot), entries(&from_image));
    assert!(ok(&dir, &["inspect", dir.to_str().unwrap()]).contains("entries"));

    // A change goes to stable_memory.bin, and metadata.json follows, so the
    // folder opens again (and uploads) whole.
    let stranger = "(record { username = opt \"new\"; email = null; password = null; updated_time_msecs = null })";
    let out = on_snapshot(
        &dir,
        &["--pem", &pem(&offline), "call", "set_profile", stranger],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("upgrade the canister"),
        "the heap warning"
    );
    assert!(ok(&dir, &["call", "profile_count"]).contains("61 : nat64"));
    let metadata: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("metadata.json")).unwrap()).unwrap();
    assert_eq!(
        metadata["stable_memory_size"].as_u64().unwrap(),
        std::fs::metadata(dir.join("stable_memory.bin"))
            .unwrap()
            .len()
    );
    assert_eq!(
        metadata["canister_version"], 3,
        "the rest of the metadata kept"
    );
}

#[test]
fn an_incomplete_download_is_refused_and_left_as_it_is() {
    let (offline, _) = Offline::with_profiles(10);
    let dir = offline.path("snapshot");
    snapshot_folder(&offline, &dir);
    let stable = std::fs::read(dir.join("stable_memory.bin")).unwrap();
    std::fs::write(
        dir.join("stable_memory.bin"),
        &stable[..stable.len() - 4096],
    )
    .unwrap();
    let out = on_snapshot(&dir, &["call", "clear_profiles"]);
    assert_eq!(out.status.code(), Some(2));
    let error = String::from_utf8_lossy(&out.stderr);
    assert!(error.contains("an incomplete download"), "{error}");
    assert_eq!(
        std::fs::read(dir.join("stable_memory.bin")).unwrap(),
        &stable[..stable.len() - 4096]
    );

    let error = String::from_utf8_lossy(
        &on_snapshot(&offline.path("nothing"), &["call", "profile_count"]).stderr,
    )
    .to_string();
    assert!(error.contains("expected a snapshot folder"), "{error}");
}

#[test]
fn a_snapshot_of_empty_stable_memory_has_no_stable_memory_file() {
    let offline = Offline::new("profiles");
    let dir = offline.path("snapshot");
    // A canister that never touched stable memory: the image is empty.
    std::fs::write(&offline.image, b"").unwrap();
    snapshot_folder(&offline, &dir);
    std::fs::remove_file(dir.join("stable_memory.bin")).unwrap();
    assert!(ok(&dir, &["call", "profile_count"]).contains("0 : nat64"));
    assert!(
        !dir.join("stable_memory.bin").exists(),
        "a query writes nothing"
    );
}

/// A key file for calls as a non-controller with a principal of its own.
fn pem(offline: &Offline) -> String {
    let path = offline.path("caller.pem");
    std::fs::write(&path, "-----BEGIN PRIVATE KEY-----\nMFMCAQEwBQYDK2VwBCIEIB5Ku8gKo4FiQy0BmL5wfXbyMyEUI9UdShH7MvjcPpTyoSMDIQDyEn9V8EOHBqRRkvbt2TfBfMxr8Q1NZ0PE4aBv6G0rUw==\n-----END PRIVATE KEY-----\n").unwrap();
    path.to_str().unwrap().to_string()
}

//! `ic-backup serve` end to end: the CLI's live mode (ic-agent) against the
//! example canister's real wasm served over the IC's HTTP interface, with
//! the same commands run offline on a copy of the image as the reference;
//! strangers refused; bad requests refused as the IC refuses them.

mod common;

use common::{principal, Offline};
use pkcs8::{EncodePrivateKey, LineEnding};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A dfx-style Ed25519 key: the admin (a controller of the served canister).
const ADMIN: &str = "-----BEGIN PRIVATE KEY-----\nMFMCAQEwBQYDK2VwBCIEIB5Ku8gKo4FiQy0BmL5wfXbyMyEUI9UdShH7MvjcPpTyoSMDIQDyEn9V8EOHBqRRkvbt2TfBfMxr8Q1NZ0PE4aBv6G0rUw==\n-----END PRIVATE KEY-----\n";

/// A running `ic-backup serve`, stopped with SIGINT when dropped.
pub struct Served {
    child: Option<Child>,
    pub url: String,
    pub canister: String,
}

impl Served {
    pub fn start(offline: &Offline, image: &Path, extra: &[&str]) -> Served {
        let mut child = offline
            .command(image, &["--json", "serve"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let banner: Value = serde_json::from_str(&line)
            .unwrap_or_else(|error| panic!("serve's first line is not JSON ({error}): {line:?}"));
        assert_eq!(
            banner["root_key"].as_str().unwrap().len(),
            2 * 133,
            "{banner}"
        );
        Served {
            url: banner["url"].as_str().unwrap().to_string(),
            canister: banner["canister_id"].as_str().unwrap().to_string(),
            child: Some(child),
        }
    }

    /// Stops the server as Ctrl-C does; it must exit cleanly.
    pub fn stop(mut self) {
        let child = self.child.take().unwrap();
        interrupt(child);
    }
}

fn interrupt(mut child: Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "serve exited with {status}");
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn write_keys(dir: &Path) -> (PathBuf, PathBuf) {
    let admin = dir.join("admin.pem");
    std::fs::write(&admin, ADMIN).unwrap();
    let stranger = dir.join("stranger.pem");
    let key = k256::SecretKey::from_slice(&[7; 32]).unwrap();
    std::fs::write(
        &stranger,
        key.to_pkcs8_pem(LineEnding::LF).unwrap().as_bytes(),
    )
    .unwrap();
    (admin, stranger)
}

fn whoami(pem: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ic-backup"))
        .args(["--pem", pem.to_str().unwrap(), "whoami"])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The CLI in live mode against `served`, as `pem`, in `dir`.
fn live(served: &Served, pem: &Path, dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ic-backup"))
        .current_dir(dir)
        .args(["--network", &served.url, "--canister", &served.canister])
        .args(["--pem", pem.to_str().unwrap()])
        .args(args)
        .output()
        .unwrap()
}

fn ok(output: std::process::Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn live_mode_against_serve_equals_offline_byte_for_byte() {
    let (offline, source) = Offline::with_profiles(300);
    let (admin, stranger) = write_keys(offline.dir.path());
    let admin_id = whoami(&admin);
    // The reference: the same commands offline, on a copy of the image.
    let reference = offline.path("reference.bin");
    std::fs::copy(&offline.image, &reference).unwrap();
    let served = Served::start(&offline, &offline.image, &["--controller", &admin_id]);
    let live_dir = offline.path("live");
    let offline_dir = offline.path("offline");
    std::fs::create_dir_all(&live_dir).unwrap();
    std::fs::create_dir_all(&offline_dir).unwrap();
    let pem = admin.to_str().unwrap().to_string();
    let both = |args: &[&str]| -> (String, String) {
        let live_out = ok(
            live(&served, &admin, &live_dir, args),
            &format!("live {args:?}"),
        );
        let out = offline
            .command(&reference, &["--pem", &pem, "--controller", &admin_id])
            .current_dir(&offline_dir)
            .args(args)
            .output()
            .unwrap();
        let offline_out = ok(out, &format!("offline {args:?}"));
        (live_out, offline_out)
    };
    let same_file = |name: &str| {
        let live_bytes = std::fs::read(live_dir.join(name)).unwrap();
        let offline_bytes = std::fs::read(offline_dir.join(name)).unwrap();
        assert!(
            live_bytes == offline_bytes,
            "{name} differs live and offline"
        );
        live_bytes
    };

    let helper = principal(4242);
    let (a, b) = both(&["auth", "add", &helper]);
    assert_eq!(a, b);
    let (a, b) = both(&["auth", "list"]);
    assert_eq!(a, b);
    assert!(a.contains(&helper), "{a}");

    // Backups in both formats, several pages each.
    for format in ["lossless", "agent-js", "json"] {
        let name = format!("{format}.json");
        let (a, b) = both(&[
            "backup",
            "profiles",
            "-o",
            &name,
            "--format",
            format,
            "--max-bytes",
            "8000",
        ]);
        assert_eq!(a, b);
        let bytes = same_file(&name);
        assert!(!bytes.is_empty());
    }
    let plain = common::entries(&live_dir.join("json.json"));
    assert_eq!(plain.as_array().unwrap().len(), 300);
    assert!(
        plain == common::entries(&source),
        "the live backup is not the data restored"
    );

    // Restore, plain and with --replace, of a smaller set.
    let fewer = offline.path("fewer.json");
    common::profiles_file(&fewer, 40);
    let fewer = fewer.to_str().unwrap();
    both(&["restore", "profiles", "-i", fewer]);
    both(&["restore", "profiles", "-i", fewer, "--replace"]);
    both(&["backup", "profiles", "-o", "after.json"]);
    same_file("after.json");
    assert_eq!(
        common::entries(&live_dir.join("after.json"))
            .as_array()
            .unwrap()
            .len(),
        40
    );

    let (a, b) = both(&["call", "profile_count"]);
    assert_eq!(a, b);
    assert!(a.contains("40"), "{a}");

    // Raw memory: dump, verify, then load an edited dump (changed blocks only).
    both(&[
        "dump",
        "-o",
        "dump.dat",
        "--chunk-bytes",
        "65536",
        "--parallel",
        "3",
    ]);
    let dump = same_file("dump.dat");
    both(&["verify", "--manifest", "dump.dat.sha256"]);
    let mut edited = dump.clone();
    let at = edited.windows(6).position(|w| w == b"user17").unwrap();
    edited[at..at + 6].copy_from_slice(b"USER17");
    for dir in [&live_dir, &offline_dir] {
        std::fs::write(dir.join("edited.dat"), &edited).unwrap();
    }
    let (a, b) = both(&[
        "--json",
        "load",
        "-i",
        "edited.dat",
        "--yes",
        "--block-bytes",
        "65536",
    ]);
    assert_eq!(a, b);
    let report: Value = serde_json::from_str(a.trim()).unwrap();
    assert_eq!(report["changed"], 1, "{report}");
    assert_eq!(report["verified"], true, "{report}");

    // A stranger is refused on every endpoint, and changes nothing.
    let before = std::fs::read(&offline.image).unwrap();
    for args in [
        vec!["auth", "list"],
        vec!["auth", "add", "aaaaa-aa"],
        vec!["backup", "profiles", "-o", "stolen.json"],
        vec!["restore", "profiles", "-i", fewer, "--replace"],
        vec!["dump", "-o", "stolen.dat"],
        vec!["load", "-i", "edited.dat", "--yes"],
        vec!["call", "profile_count"],
    ] {
        let out = live(&served, &stranger, &live_dir, &args);
        assert!(!out.status.success(), "a stranger ran {args:?}");
        let error = String::from_utf8_lossy(&out.stderr);
        assert!(
            error.contains("not authorized")
                || error.contains("Unauthorized")
                || error.contains("unauthorized"),
            "{args:?}: {error}"
        );
    }
    assert!(
        std::fs::read(&offline.image).unwrap() == before,
        "a stranger changed the image"
    );

    // Ctrl-C: the server stops cleanly with the image saved, equal to the
    // image the same commands wrote offline.
    served.stop();
    assert!(
        std::fs::read(&offline.image).unwrap() == std::fs::read(&reference).unwrap(),
        "the served image differs from the offline one"
    );
}

//! What the CLI tests share: the ic-backup binary driven offline over an
//! example's real wasm, and backup files of generated profiles.

#![allow(dead_code)]

pub mod net;
pub mod serving;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The release wasm of example `name`, built on first use.
pub fn wasm(name: &str) -> PathBuf {
    example_wasm::path(name)
}

/// `scripts/agent-js`, with its npm packages (@dfinity/agent, icp-cli's
/// `icp` binary) installed: `npm ci` runs there the first time, so that
/// `cargo test --workspace` needs no script first. `None` when node and
/// npm are not installed.
pub fn npm_packages() -> Option<&'static Path> {
    static INSTALLED: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/agent-js");
            let npm = |args: &[&str]| {
                Command::new("npm")
                    .current_dir(&scripts)
                    .args(args)
                    .output()
            };
            if npm(&["--version"]).is_err() {
                return None;
            }
            // One installer at a time, across test processes.
            let lock = std::fs::File::create(scripts.join(".install.lock")).unwrap();
            lock.lock().unwrap();
            let installed = scripts.join("node_modules/.package-lock.json");
            let fresh = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
            if fresh(&installed) < fresh(&scripts.join("package-lock.json")) {
                let out = npm(&["ci", "--no-audit", "--no-fund"]).unwrap();
                assert!(
                    out.status.success(),
                    "npm ci in {} failed: {}",
                    scripts.display(),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            Some(scripts)
        })
        .as_deref()
}

pub struct Offline {
    pub wasm: PathBuf,
    pub image: PathBuf,
    pub dir: tempfile::TempDir,
}

impl Offline {
    pub fn new(example: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        Offline {
            wasm: wasm(example),
            image: dir.path().join("stable_memory.bin"),
            dir,
        }
    }

    /// An offline canister whose map holds `n` profiles, and the file they came from.
    pub fn with_profiles(n: u32) -> (Self, PathBuf) {
        let offline = Offline::new("profiles");
        let source = offline.path("source.json");
        profiles_file(&source, n);
        offline.ok(&["restore", "profiles", "-i", source.to_str().unwrap()]);
        (offline, source)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(&self.image, args).output().unwrap()
    }

    /// The command line of `args` over `image`, to run or spawn.
    pub fn command(&self, image: &Path, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ic-backup"));
        command
            .arg("--wasm")
            .arg(&self.wasm)
            .arg("--image")
            .arg(image)
            .args(args);
        command
    }

    /// Runs over another image and expects success.
    pub fn ok_on(&self, image: &Path, args: &[&str]) -> String {
        let out = self.command(image, args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?} on {} failed: {}",
            image.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Checks that the image is byte for byte `before`.
    pub fn assert_image_unchanged(&self, before: &[u8]) {
        assert!(
            std::fs::read(&self.image).unwrap() == before,
            "the image changed"
        );
    }

    /// `profile_count` of the profiles canister over `image`.
    pub fn profile_count_on(&self, image: &Path) -> u64 {
        let text = self.ok_on(image, &["call", "profile_count"]);
        text.trim()
            .trim_start_matches('(')
            .split(' ')
            .next()
            .unwrap()
            .replace('_', "")
            .parse()
            .unwrap()
    }

    /// Runs and expects success; returns standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs and expects failure with `code`; returns standard error.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stderr).unwrap()
    }
}

/// A club canister (`club`, or `club_plain` built without the derive)
/// given the same messages: seeded with `n` of everything, then configured
/// (the audit log's last event).
pub fn seeded_club(example: &str, n: u64) -> Offline {
    let club = Offline::new(example);
    club.ok(&["call", "seed", &format!("({n} : nat64)")]);
    club.ok(&[
        "call",
        "configure",
        "(record { name = \"chess\"; max_members = 5000 : nat32; open = false })",
    ]);
    club
}

pub fn principal(n: u32) -> String {
    let mut bytes = [8u8; 29];
    bytes[..4].copy_from_slice(&n.to_be_bytes());
    candid::Principal::from_slice(&bytes).to_text()
}

/// A backup file of `n` profiles in plain JSON (`opt` as null or the value).
pub fn profiles_file(path: &Path, n: u32) {
    let entries: Vec<Value> = (0..n)
        .map(|i| {
            json!([principal(i), {
                "username": format!("user{i}"),
                "email": format!("user{i}@example.org"),
                "password": "x".repeat(i as usize % 300),
                "updated_time_msecs": 1_700_000_000_000u64 + u64::from(i),
            }])
        })
        .collect();
    std::fs::write(path, serde_json::to_vec(&entries).unwrap()).unwrap();
}

pub fn entries(path: &Path) -> Value {
    let document: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    match document {
        Value::Array(_) => document,
        other => other["entries"].clone(),
    }
}

/// A backup file of `n` profiles of about `size` bytes each, in plain JSON.
pub fn big_profiles_file(path: &Path, n: u32, size: usize) {
    let entries: Vec<Value> = (0..n)
        .map(|i| json!([principal(i), { "username": format!("{i}:{}", "u".repeat(size)), "email": null, "password": null, "updated_time_msecs": null }]))
        .collect();
    std::fs::write(path, serde_json::to_vec(&entries).unwrap()).unwrap();
}

/// The folder of a snapshot of `offline`'s canister: metadata.json,
/// wasm_module.bin (gzipped), wasm_memory.bin, stable_memory.bin.
pub fn snapshot_folder(offline: &Offline, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&std::fs::read(&offline.wasm).unwrap())
        .unwrap();
    let module = gz.finish().unwrap();
    let stable = std::fs::read(&offline.image).unwrap();
    std::fs::write(dir.join("wasm_module.bin"), &module).unwrap();
    std::fs::write(dir.join("stable_memory.bin"), &stable).unwrap();
    std::fs::write(dir.join("wasm_memory.bin"), vec![0xa5; 65536]).unwrap();
    let metadata = json!({
        "source": { "TakenFromCanister": null },
        "taken_at_timestamp": 1_764_000_000_000_000_000u64,
        "wasm_module_size": module.len(),
        "exported_globals": [],
        "wasm_memory_size": 65536,
        "stable_memory_size": stable.len(),
        "wasm_chunk_store": [],
        "canister_version": 3,
        "certified_data": [],
        "global_timer": null,
        "on_low_wasm_memory_hook_status": null,
    });
    std::fs::write(
        dir.join("metadata.json"),
        serde_json::to_vec_pretty(&metadata).unwrap(),
    )
    .unwrap();
}

/// The real icp-cli 1.5 (`icp`), from npm (installed on first use), with
/// its own home (identities, settings), no telemetry.
pub fn icp(home: &Path) -> Command {
    let scripts = npm_packages().expect("node and npm, to install icp-cli 1.5 from npm");
    let binary = scripts.join("node_modules/@icp-sdk/icp-cli-linux-x64/bin/icp");
    assert!(
        binary.exists(),
        "{} is missing after npm ci",
        binary.display()
    );
    let mut command = Command::new(binary);
    command
        .env("HOME", home)
        .env("ICP_HOME", home.join("icp"))
        .env("DO_NOT_TRACK", "1")
        .env("RUST_BACKTRACE", "0")
        .stdin(std::process::Stdio::null());
    command
}

pub fn icp_ok(home: &Path, args: &[&str]) -> String {
    let out = icp(home).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "icp {args:?}: {}{}",
        serving::text(&out.stdout),
        serving::text(&out.stderr)
    );
    serving::text(&out.stdout)
}

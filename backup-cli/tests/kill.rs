//! An interruption at any moment loses nothing: each of `backup`, `restore`,
//! `restore --replace`, `dump` and `load`, offline over the profiles
//! canister's real wasm, is killed with SIGKILL at 20 random moments and run
//! again to completion; every time, the files it leaves are byte for byte
//! those of an uninterrupted run, and no other file is left behind.
//!
//! The moments are drawn from a fixed seed (printed, and settable with
//! `KILL_TEST_SEED`), uniformly over the uninterrupted run's duration, so
//! kills land while the wasm loads, between calls, while files are written
//! and renamed.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TRIALS: usize = 20;

/// A small deterministic generator of kill moments.
struct Moments(u64);

impl Moments {
    fn next(&mut self, below: Duration) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        below.mul_f64((self.0 % 10_000) as f64 / 10_000.0)
    }
}

fn seed(name: &str) -> u64 {
    let base = std::env::var("KILL_TEST_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or(0x5EED_0F1C_BAC0_u64);
    name.bytes()
        .fold(base, |h, b| h.rotate_left(5) ^ u64::from(b))
        | 1
}

/// Every file of `dir`, by name.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            (
                entry.file_name().to_string_lossy().into_owned(),
                std::fs::read(entry.path()).unwrap(),
            )
        })
        .collect()
}

fn copy_files(from: &BTreeMap<String, Vec<u8>>, to: &Path) {
    for (name, bytes) in from {
        std::fs::write(to.join(name), bytes).unwrap();
    }
}

fn command(wasm: &Path, dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ic-backup"));
    command
        .current_dir(dir)
        .arg("--wasm")
        .arg(wasm)
        .arg("--image")
        .arg("stable_memory.bin")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

fn run_to_completion(wasm: &Path, dir: &Path, args: &[&str]) {
    let out = command(wasm, dir, args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `args` over the files of `start` uninterrupted, then `TRIALS` times
/// killed at a random moment (twice, on every other trial) and run again to
/// completion; every end state must be the uninterrupted one.
fn survives_kills(name: &str, start: &BTreeMap<String, Vec<u8>>, args: &[&str]) {
    let wasm = wasm("profiles");
    let reference_dir = tempfile::tempdir().unwrap();
    copy_files(start, reference_dir.path());
    let began = Instant::now();
    run_to_completion(&wasm, reference_dir.path(), args);
    let duration = began.elapsed();
    let expected = files(reference_dir.path());

    let seed = seed(name);
    eprintln!("{name}: an uninterrupted run takes {duration:?}; kill moments from seed {seed}");
    let mut moments = Moments(seed);
    for trial in 0..TRIALS {
        let dir = tempfile::tempdir().unwrap();
        copy_files(start, dir.path());
        let kills = if trial % 2 == 0 { 1 } else { 2 };
        let mut at = Vec::new();
        for _ in 0..kills {
            let moment = moments.next(duration);
            let mut child = command(&wasm, dir.path(), args).spawn().unwrap();
            std::thread::sleep(moment);
            let _ = child.kill();
            child.wait().unwrap();
            at.push(moment);
        }
        run_to_completion(&wasm, dir.path(), args);
        let got = files(dir.path());
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "{name}, trial {trial} (killed at {at:?}): other files were left"
        );
        for (file, bytes) in &expected {
            assert!(
                got[file] == *bytes,
                "{name}, trial {trial} (killed at {at:?}): {file} differs from an uninterrupted run"
            );
        }
    }
}

/// The files of an offline canister whose map holds `n` profiles: the image,
/// and the backup file they were restored from (`name`).
fn profiles_image(n: u32, name: &str) -> BTreeMap<String, Vec<u8>> {
    let (offline, source) = Offline::with_profiles(n);
    let mut out = BTreeMap::new();
    out.insert(
        "stable_memory.bin".to_string(),
        std::fs::read(&offline.image).unwrap(),
    );
    out.insert(name.to_string(), std::fs::read(source).unwrap());
    out
}

fn backup_file(n: u32) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("f.json");
    big_profiles_file(&path, n, 40);
    std::fs::read(path).unwrap()
}

#[test]
fn backup_survives_kills() {
    let start = profiles_image(300, "source.json");
    survives_kills(
        "backup",
        &start,
        &[
            "backup",
            "profiles",
            "-o",
            "out.json",
            "--max-bytes",
            "1500",
        ],
    );
}

#[test]
fn restore_survives_kills() {
    let mut start = profiles_image(20, "source.json");
    start.insert("new.json".into(), backup_file(300));
    survives_kills(
        "restore",
        &start,
        &[
            "restore",
            "profiles",
            "-i",
            "new.json",
            "--batch-bytes",
            "3000",
        ],
    );
}

#[test]
fn restore_replace_survives_kills() {
    let mut start = profiles_image(150, "source.json");
    start.insert("new.json".into(), backup_file(300));
    survives_kills(
        "restore --replace",
        &start,
        &[
            "restore",
            "profiles",
            "-i",
            "new.json",
            "--replace",
            "--batch-bytes",
            "3000",
        ],
    );
}

#[test]
fn dump_survives_kills() {
    let start = profiles_image(300, "source.json");
    survives_kills(
        "dump",
        &start,
        &[
            "dump",
            "-o",
            "dump.dat",
            "--chunk-bytes",
            "65536",
            "--parallel",
            "2",
        ],
    );
}

#[test]
fn load_survives_kills() {
    let mut start = profiles_image(300, "source.json");
    let other = profiles_image(400, "other.json");
    start.insert("repaired.dat".into(), other["stable_memory.bin"].clone());
    survives_kills(
        "load",
        &start,
        &[
            "load",
            "-i",
            "repaired.dat",
            "--yes",
            "--block-bytes",
            "16384",
        ],
    );
}

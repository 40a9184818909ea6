//! An interruption at any moment loses nothing: each of `backup`, `restore`,
//! `restore --replace`, `dump` and `load`, offline over the profiles
//! canister's real wasm, is killed with SIGKILL at 14 random moments and run
//! again to completion; every time, the files it leaves are byte for byte
//! those of an uninterrupted run, and no other file is left behind.
//!
//! The moments are drawn from a fixed seed (printed, and settable with
//! `KILL_TEST_SEED`), uniformly over the uninterrupted run's duration, so
//! kills land while the wasm loads, between calls, while files are written
//! and renamed.

use crate::common;

use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TRIALS: usize = 14;
/// Trials run at once.
const WORKERS: usize = 2;

/// A small deterministic generator of kill moments.
pub(crate) struct Moments(pub(crate) u64);

impl Moments {
    pub(crate) fn next(&mut self, below: Duration) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        below.mul_f64((self.0 % 10_000) as f64 / 10_000.0)
    }
}

pub(crate) fn seed(name: &str) -> u64 {
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
    survives_kills_of("profiles", TRIALS, name, start, args);
}

/// [`survives_kills`] over example `example`'s wasm, `trials` times.
fn survives_kills_of(
    example: &str,
    trials: usize,
    name: &str,
    start: &BTreeMap<String, Vec<u8>>,
    args: &[&str],
) {
    let wasm = wasm(example);
    let reference_dir = tempfile::tempdir().unwrap();
    copy_files(start, reference_dir.path());
    let began = Instant::now();
    run_to_completion(&wasm, reference_dir.path(), args);
    let duration = began.elapsed();
    let expected = files(reference_dir.path());

    let seed = seed(name);
    eprintln!("{name}: an uninterrupted run takes {duration:?}; kill moments from seed {seed}");
    // The moments of every trial, drawn in order, so a seed names the same
    // trials however they are spread over the workers.
    let mut moments = Moments(seed);
    let plans: Vec<Vec<Duration>> = (0..trials)
        .map(|trial| {
            let kills = if trial % 2 == 0 { 1 } else { 2 };
            (0..kills).map(|_| moments.next(duration)).collect()
        })
        .collect();
    let trial = |trial: usize| {
        let dir = tempfile::tempdir().unwrap();
        copy_files(start, dir.path());
        let at = &plans[trial];
        for &moment in at {
            let mut child = command(&wasm, dir.path(), args).spawn().unwrap();
            std::thread::sleep(moment);
            let _ = child.kill();
            child.wait().unwrap();
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
    };
    // Two workers, each in a directory of its own: the trials are
    // independent, and the longest test no longer runs alone at the end.
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..WORKERS)
            .map(|worker| {
                let trial = &trial;
                scope.spawn(move || (worker..trials).step_by(WORKERS).for_each(trial))
            })
            .collect();
        for worker in workers {
            if let Err(panic) = worker.join() {
                std::panic::resume_unwind(panic);
            }
        }
    });
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

/// Kills per structure of the club: fewer than the maps' 14, which cover
/// the same files and resume state; these cover each kind's own walk and
/// checks.
const CLUB_TRIALS: usize = 4;

/// The image of a club seeded with `n` of everything (none: a club that
/// answered one query), and the lossless backups of its log and vec.
fn club_files(n: u64) -> BTreeMap<String, Vec<u8>> {
    let club = Offline::new("club");
    if n == 0 {
        club.ok(&["call", "counts"]);
    } else {
        club.ok(&["call", "seed", &format!("({n} : nat64)")]);
    }
    let mut out = BTreeMap::new();
    for name in ["audit", "posts"] {
        let file = club.path(&format!("{name}.json"));
        club.ok(&["backup", name, "-o", file.to_str().unwrap()]);
        out.insert(format!("{name}.json"), std::fs::read(file).unwrap());
    }
    out.insert(
        "stable_memory.bin".to_string(),
        std::fs::read(&club.image).unwrap(),
    );
    out
}

#[test]
fn backups_of_a_log_and_a_vec_survive_kills() {
    let start = club_files(150);
    for name in ["audit", "posts"] {
        survives_kills_of(
            "club",
            CLUB_TRIALS,
            &format!("backup {name}"),
            &start,
            &["backup", name, "-o", "out.json", "--max-bytes", "1500"],
        );
    }
}

#[test]
fn restores_of_a_log_and_a_vec_survive_kills() {
    let files = club_files(150);
    let mut start = club_files(0);
    for name in ["audit", "posts"] {
        let file = format!("{name}.json");
        start.insert(format!("new-{file}"), files[&file].clone());
        survives_kills_of(
            "club",
            CLUB_TRIALS,
            &format!("restore {name}"),
            &start,
            &[
                "restore",
                name,
                "-i",
                &format!("new-{file}"),
                "--batch-bytes",
                "1500",
            ],
        );
    }
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

/// `serve`, with calls arriving at random moments and its log folded into
/// the image every 50 ms, killed (SIGKILL) at 14 random moments: when the
/// image is next opened, every call replied to is in it, and the image is
/// byte for byte the one an uninterrupted run of the same calls makes
/// (with the call in flight at the kill, or without it).
#[test]
fn serve_survives_kills() {
    use candid::Encode;
    use common::serving::{now_nanos, signed, try_post, Key, Served};
    let key = Key::new(33);
    let offline = Offline::new("ledger");
    offline.ok(&["call", "set_nickname", "(0 : nat64, \"start\")"]);
    let base = std::fs::read(&offline.image).unwrap();
    // Nicknames of varied sizes over a few dozen accounts: the map's nodes
    // fill, split and move.
    let arguments: Vec<Vec<u8>> = (0..60u64)
        .map(|i| {
            let nickname = format!("nick-{i}-{}", "x".repeat((i * 53 % 400) as usize));
            Encode!(&(i * 7 % 37), &nickname).unwrap()
        })
        .collect();
    // The uninterrupted run: the image after each call.
    let mut canister = canister_runner::Canister::from_image(
        &std::fs::read(&offline.wasm).unwrap(),
        base.clone(),
        canister_runner::InstallArgs {
            controllers: vec![key.principal()],
            ..Default::default()
        },
    )
    .unwrap();
    let mut expected = vec![canister.stable_memory().to_vec()];
    for arg in &arguments {
        canister
            .update(key.principal(), "set_nickname", arg)
            .result
            .unwrap();
        expected.push(canister.stable_memory().to_vec());
    }
    let mut moments = Moments(seed("serve"));
    let mut pause = Moments(seed("serve pauses"));
    let trial_image = offline.path("trial.bin");
    let principal = key.principal().to_text();
    let start = |image: &Path| {
        let mut command = offline.command(
            image,
            &[
                "--json",
                "serve",
                "--fold-interval",
                "0.05",
                "--controller",
                &principal,
            ],
        );
        command.env("RUST_LOG", "off");
        Served::spawn(command)
    };
    // Sends the calls one after another, a random pause before each;
    // returns how many were replied to.
    let send = |served: &Served, pause: &mut Moments, interrupted: bool| {
        let canister = candid::Principal::from_text(&served.canister).unwrap();
        let path = format!("/api/v3/canister/{canister}/call");
        let mut replied = 0;
        for (i, arg) in arguments.iter().enumerate() {
            std::thread::sleep(pause.next(Duration::from_millis(20)));
            let envelope = signed(
                ic_transport_types::EnvelopeContent::Call {
                    nonce: Some(format!("{i}").into_bytes()),
                    ingress_expiry: now_nanos() + 120_000_000_000,
                    sender: key.principal(),
                    canister_id: canister,
                    method_name: "set_nickname".into(),
                    arg: arg.clone(),
                    sender_info: None,
                },
                &key,
                None,
                &key,
            );
            match try_post(&served.url, &path, "application/cbor", &envelope) {
                Some((200, body)) if !body.is_empty() => {
                    let reply: ic_transport_types::TransportCallResponse =
                        serde_cbor::from_slice(&body).unwrap();
                    assert!(matches!(
                        reply,
                        ic_transport_types::TransportCallResponse::Replied { .. }
                    ));
                    replied += 1;
                }
                _ => {
                    assert!(interrupted, "call {i} failed on an uninterrupted run");
                    break;
                }
            }
        }
        replied
    };
    // The uninterrupted run, for its duration.
    std::fs::write(&trial_image, &base).unwrap();
    let served = start(&trial_image);
    let started = Instant::now();
    assert_eq!(send(&served, &mut pause, false), arguments.len());
    let duration = started.elapsed();
    served.stop();
    assert!(std::fs::read(&trial_image).unwrap() == expected[arguments.len()]);
    let seed_value = seed("serve");
    eprintln!("serve_survives_kills: {TRIALS} kills over {duration:?}, seed {seed_value}");
    for trial in 0..TRIALS {
        for leftover in ["trial.bin.wal", "trial.bin.subnet", "trial.bin.lock"] {
            let _ = std::fs::remove_file(offline.path(leftover));
        }
        std::fs::write(&trial_image, &base).unwrap();
        let served = start(&trial_image);
        let at = moments.next(duration);
        let pid = served.pid();
        let killer = std::thread::spawn(move || {
            std::thread::sleep(at);
            Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status()
                .unwrap();
        });
        let replied = send(&served, &mut pause, true);
        killer.join().unwrap();
        served.kill();
        // The next opener replays the log.
        offline.ok_on(&trial_image, &["call", "get_nickname", "(0 : nat64)"]);
        let now = std::fs::read(&trial_image).unwrap();
        let holds = |n: usize| expected.get(n).is_some_and(|image| *image == now);
        assert!(
            holds(replied) || holds(replied + 1),
            "trial {trial} (kill at {at:?}, {replied} calls replied to): the image is not the uninterrupted run's after {replied} calls (or one more)"
        );
    }
}

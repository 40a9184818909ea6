//! What `ic-backup serve` and the offline commands keep through crashes,
//! and what one request may cost the server: each test runs the real wasm
//! of an example or fixture canister behind the real binary, and kills it
//! with SIGKILL where a crash is the point.

use crate::common;

use candid::{Encode, Principal};
use common::serving::*;
use common::{icp_ok, Offline};
use ic_transport_types::{Envelope, EnvelopeContent};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The CLI in live mode against `served`, as `pem`.
fn live(served: &Served, pem: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ic-backup"))
        .args(["--network", &served.url, "--canister", &served.canister])
        .args(["--pem", pem.to_str().unwrap()])
        .args(args)
        .output()
        .unwrap()
}

fn ok(output: std::process::Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what}: {}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    text(&output.stdout)
}

/// The cell fixture (no derive, no MemoryManager) on a new image, served.
fn cell(extra: &[&str]) -> (Offline, Served) {
    let offline = Offline::new("cell_fixture");
    let served = Served::start(&offline, &offline.image, extra);
    (offline, served)
}

fn admin(offline: &Offline) -> std::path::PathBuf {
    write_keys(offline.dir.path()).0
}

/// Serve an image, make one update, let the log be folded into the image,
/// make more, kill the server: every update replied to is there.
#[test]
fn updates_after_a_fold_survive_a_kill() {
    let (offline, served) = cell(&["--fold-interval", "0.2"]);
    let pem = admin(&offline);
    ok(
        live(&served, &pem, &["call", "set", "(1 : nat64)"]),
        "first",
    );
    std::thread::sleep(Duration::from_millis(400));
    // This one's commit folds the log (and empties it) …
    ok(
        live(&served, &pem, &["call", "set", "(2 : nat64)"]),
        "second",
    );
    // … and these are written where the emptied log now ends.
    ok(
        live(
            &served,
            &pem,
            &["call", "set_both", "(3 : nat64, \"three\")"],
        ),
        "third",
    );
    ok(
        live(&served, &pem, &["call", "set", "(4 : nat64)"]),
        "fourth",
    );
    served.kill();
    let got = offline.ok(&["call", "get"]);
    assert!(
        got.contains("4 : nat64") && got.contains("\"three\""),
        "{got}"
    );
}

/// A call made of two messages (write, await `raw_rand`, reply) is logged
/// with what both messages wrote.
#[test]
fn a_call_of_two_messages_survives_a_kill_before_the_next_fold() {
    let (offline, served) = cell(&[]);
    let pem = admin(&offline);
    let reply = ok(
        live(&served, &pem, &["call", "set_then_rand", "(42 : nat64)"]),
        "set_then_rand",
    );
    assert!(reply.contains("42"), "{reply}");
    served.kill();
    let got = offline.ok(&["call", "get"]);
    assert!(got.contains("42 : nat64"), "{got}");

    // Its callback writes too: both halves are in the log.
    let served = Served::start(&offline, &offline.image, &[]);
    ok(
        live(
            &served,
            &pem,
            &["call", "set_both", "(7 : nat64, \"seven\")"],
        ),
        "set_both",
    );
    served.kill();
    let got = offline.ok(&["call", "get"]);
    assert!(
        got.contains("7 : nat64") && got.contains("\"seven\""),
        "{got}"
    );
}

/// A canister that keeps its state directly on stable memory (its image
/// starts `SCL`, not `MGR`) is served, stopped, and served again.
#[test]
fn a_canister_without_a_memory_manager_is_served_again_after_a_stop() {
    let (offline, served) = cell(&[]);
    let pem = admin(&offline);
    ok(live(&served, &pem, &["call", "set", "(5 : nat64)"]), "set");
    served.stop();
    assert_eq!(&std::fs::read(&offline.image).unwrap()[..3], b"SCL");
    let served = Served::start(&offline, &offline.image, &[]);
    let got = ok(live(&served, &pem, &["call", "get"]), "get");
    assert!(got.contains("5 : nat64"), "{got}");
    served.stop();
    let got = offline.ok(&["call", "get"]);
    assert!(got.contains("5 : nat64"), "{got}");
}

/// While `serve` has an image open, no other command or server may open
/// it: refused, naming the server's process, with nothing replayed,
/// removed or written; and the served updates survive a crash.
#[test]
fn a_served_image_is_refused_to_everyone_else() {
    let (offline, served) = cell(&[]);
    let pem = admin(&offline);
    ok(live(&served, &pem, &["call", "set", "(11 : nat64)"]), "set");
    let log = backup_client::wal::path_of(&offline.image);
    let before = (
        std::fs::read(&offline.image).unwrap(),
        std::fs::read(&log).unwrap(),
    );
    let holder = format!("process {}", served.pid());
    let error = offline.fails(&["call", "get"], 2);
    assert!(
        error.contains("is in use by") && error.contains(&holder) && error.contains("serve"),
        "{error}"
    );
    let error = offline.fails(&["call", "set", "(12 : nat64)"], 2);
    assert!(error.contains(&holder), "{error}");
    let second = offline
        .command(&offline.image, &["serve"])
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(2), "{}", text(&second.stderr));
    assert!(text(&second.stderr).contains(&holder));
    let after = (
        std::fs::read(&offline.image).unwrap(),
        std::fs::read(&log).unwrap(),
    );
    assert!(before == after, "the image and its log are as they were");
    ok(live(&served, &pem, &["call", "set", "(13 : nat64)"]), "set");
    served.kill();
    let got = offline.ok(&["call", "get"]);
    assert!(got.contains("13 : nat64"), "{got}");
}

/// An anonymous call envelope.
fn anonymous_call(canister: Principal, method: &str, arg: Vec<u8>) -> Vec<u8> {
    Envelope {
        content: std::borrow::Cow::Owned(EnvelopeContent::Call {
            nonce: Some(now_nanos().to_le_bytes().to_vec()),
            ingress_expiry: now_nanos() + 120_000_000_000,
            sender: Principal::anonymous(),
            canister_id: canister,
            method_name: method.into(),
            arg,
            sender_info: None,
        }),
        sender_pubkey: None,
        sender_sig: None,
        sender_delegation: None,
    }
    .encode_bytes()
}

/// `canister_status`'s argument with a field `junk : vec null` of 2^62
/// elements: 40 bytes that a decoder without a quota walks for ever.
fn vec_null_bomb(canister: Principal) -> Vec<u8> {
    let mut fields = [
        (candid::idl_hash("canister_id"), 0x68u8),
        (candid::idl_hash("junk"), 1),
    ];
    fields.sort();
    let mut arg = b"DIDL\x02\x6c\x02".to_vec();
    for (hash, ty) in fields {
        backup_common::leb128::push(&mut arg, u64::from(hash));
        arg.push(ty);
    }
    arg.extend_from_slice(b"\x6d\x7f\x01\x00");
    for (hash, _) in fields {
        if hash == candid::idl_hash("canister_id") {
            arg.push(1);
            arg.push(canister.as_slice().len() as u8);
            arg.extend_from_slice(canister.as_slice());
        } else {
            backup_common::leb128::push(&mut arg, 1 << 62);
        }
    }
    arg
}

/// A 40-byte management call that a decoder without quotas walks for ever
/// is refused at once (before its argument is read, for a stranger; by
/// the decoder's quota, for a controller), and the server goes on.
#[test]
fn the_vec_null_bomb_is_refused_at_once_and_the_server_goes_on() {
    let controller = Key::new(9);
    let principal = controller.principal().to_text();
    let (offline, served) = cell(&["--controller", &principal]);
    let pem = admin(&offline);
    let canister = Principal::from_text(&served.canister).unwrap();
    let bomb = vec_null_bomb(canister);
    let started = Instant::now();
    let (status, body) = post(
        &served.url,
        &call_path(&served.canister),
        "application/cbor",
        &anonymous_call(
            Principal::management_canister(),
            "canister_status",
            bomb.clone(),
        ),
    );
    assert_eq!(status, 200, "{}", text(&body));
    let (outcome, message) = call_outcome(&body);
    assert_eq!(outcome, "rejected");
    assert!(message.contains("IC0512"), "{message}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );

    let started = Instant::now();
    let content = EnvelopeContent::Call {
        nonce: Some(b"bomb".to_vec()),
        ingress_expiry: now_nanos() + 120_000_000_000,
        sender: controller.principal(),
        canister_id: Principal::management_canister(),
        method_name: "canister_status".into(),
        arg: bomb,
        sender_info: None,
    };
    let (status, body) = post(
        &served.url,
        &call_path(&served.canister),
        "application/cbor",
        &signed(content, &controller, None, &controller),
    );
    assert_eq!(status, 200, "{}", text(&body));
    let (outcome, message) = call_outcome(&body);
    assert_eq!(outcome, "rejected");
    assert!(
        message.contains("IC0408") && message.contains("decod"),
        "{message}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    // The next query is served.
    let got = ok(live(&served, &pem, &["call", "get"]), "get");
    assert!(got.contains("0 : nat64"), "{got}");
    served.stop();
}

/// The server's resident memory, in bytes.
fn resident(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

/// Calls to a missing method with a 2 MiB name, one after another: the
/// IC's reject message names the method cut to 8 KiB, and the statuses
/// kept are bounded, so the server's memory stays within a bound far
/// below what the calls carried.
#[test]
fn a_flood_of_calls_with_huge_method_names_keeps_the_servers_memory_bounded() {
    let (_offline, served) = cell(&[]);
    let canister = Principal::from_text(&served.canister).unwrap();
    let name = "m".repeat(2 * 1024 * 1024 - 64);
    let first = anonymous_call(canister, &name, b"DIDL\x00\x00".to_vec());
    let (status, body) = post(
        &served.url,
        &call_path(&served.canister),
        "application/cbor",
        &first,
    );
    assert_eq!(status, 200, "{}", text(&body));
    let (outcome, message) = call_outcome(&body);
    assert_eq!(outcome, "rejected");
    assert!(
        message.len() <= 8 * 1024 && message.contains("Canister has no update method 'mmm"),
        "{} bytes: {}",
        message.len(),
        &message[..200.min(message.len())]
    );
    let base = resident(served.pid());
    let calls = 100;
    for _ in 0..calls {
        let call = anonymous_call(canister, &name, b"DIDL\x00\x00".to_vec());
        let (status, body) = post(
            &served.url,
            &call_path(&served.canister),
            "application/cbor",
            &call,
        );
        assert_eq!(status, 200, "{}", text(&body));
    }
    let grown = resident(served.pid()).saturating_sub(base);
    // The calls carried 200 MiB; what the server keeps of them is bounded.
    assert!(
        grown < 96 << 20,
        "the server grew {} MiB over {calls} calls",
        grown >> 20
    );
    served.stop();
}

/// An anonymous `read_state` of `paths`.
fn read_state(paths: Vec<Vec<Vec<u8>>>) -> Vec<u8> {
    use ic_certification::Label;
    Envelope {
        content: std::borrow::Cow::Owned(EnvelopeContent::ReadState {
            ingress_expiry: now_nanos() + 120_000_000_000,
            sender: Principal::anonymous(),
            paths: paths
                .into_iter()
                .map(|path| path.into_iter().map(Label::from).collect())
                .collect(),
        }),
        sender_pubkey: None,
        sender_sig: None,
        sender_delegation: None,
    }
    .encode_bytes()
}

/// A `read_state` past the IC's limits (1000 paths, 127 labels a path) is
/// refused with the IC's message; at the limits it is answered.
#[test]
fn read_state_is_refused_past_the_ics_limits() {
    let (_offline, served) = cell(&[]);
    let path = format!("/api/v2/canister/{}/read_state", served.canister);
    let time = || vec![b"time".to_vec()];
    let (status, body) = post(
        &served.url,
        &path,
        "application/cbor",
        &read_state(vec![time(); 1001]),
    );
    assert_eq!(status, 400);
    assert!(
        text(&body).contains(
            "Too many paths in read state request: got 1001 paths, but at most 1000 are allowed."
        ),
        "{}",
        text(&body)
    );
    let deep = std::iter::once(b"subnet".to_vec())
        .chain((0..127).map(|n| vec![n as u8]))
        .collect();
    let (status, body) = post(
        &served.url,
        &path,
        "application/cbor",
        &read_state(vec![deep]),
    );
    assert_eq!(status, 400);
    assert!(
        text(&body).contains("got 128 labels, but at most 127 are allowed."),
        "{}",
        text(&body)
    );
    let (status, body) = post(
        &served.url,
        &path,
        "application/cbor",
        &read_state(vec![time(); 1000]),
    );
    assert_eq!(status, 200, "{}", text(&body));
    served.stop();
}

/// The number of a reply `(7 : nat64)`.
fn number(reply: &str) -> u64 {
    reply
        .trim()
        .trim_start_matches('(')
        .split(':')
        .next()
        .and_then(|digits| digits.trim().parse().ok())
        .unwrap_or_else(|| panic!("expected `(<n> : nat64)`, found {reply}"))
}

/// A signed call sent again after the server restarted is answered from
/// its status and does not run again; the root key is the same after the
/// restart, so a client configured with it goes on verifying.
#[test]
fn a_signed_call_sent_again_after_a_restart_does_not_run_again() {
    let controller = Key::new(21);
    let offline = Offline::new("ledger");
    let pem = admin(&offline);
    let (admin_id, key_id) = (whoami(&pem), controller.principal().to_text());
    let extra = ["--controller", &admin_id, "--controller", &key_id];
    let served = Served::start(&offline, &offline.image, &extra);
    let root_key = served.root_key.clone();
    let opened = ok(
        live(
            &served,
            &pem,
            &[
                "call",
                "open_account",
                &format!(
                    "(principal \"{}\", variant {{ Checking }}, null)",
                    controller.principal()
                ),
            ],
        ),
        "open_account",
    );
    let account = number(&opened);
    let deposit = signed(
        EnvelopeContent::Call {
            nonce: Some(b"deposit once".to_vec()),
            ingress_expiry: now_nanos() + 240_000_000_000,
            sender: controller.principal(),
            canister_id: Principal::from_text(&served.canister).unwrap(),
            method_name: "deposit".into(),
            arg: Encode!(&account, &5u64).unwrap(),
            sender_info: None,
        },
        &controller,
        None,
        &controller,
    );
    let send = |served: &Served| {
        let (status, body) = post(
            &served.url,
            &call_path(&served.canister),
            "application/cbor",
            &deposit,
        );
        assert_eq!(status, 200, "{}", text(&body));
        call_outcome(&body).0
    };
    assert_eq!(send(&served), "replied");
    served.stop();
    let served = Served::start(&offline, &offline.image, &extra);
    assert_eq!(served.root_key, root_key, "the subnet keeps its keys");
    assert_eq!(send(&served), "replied");
    // Killed, and started again: still known.
    served.kill();
    let served = Served::start(&offline, &offline.image, &extra);
    assert_eq!(send(&served), "replied");
    let account = ok(
        live(
            &served,
            &pem,
            &["call", "get_account", &format!("({account} : nat64)")],
        ),
        "get_account",
    );
    assert!(
        account.contains("balance = 5 : nat64"),
        "deposited once: {account}"
    );
    served.stop();
}

/// A log whose middle record is damaged is refused, and the image and the
/// log are left as they were.
#[test]
fn a_log_with_a_damaged_middle_record_is_refused_and_changes_nothing() {
    let (offline, served) = cell(&[]);
    let pem = admin(&offline);
    for n in 1..=3 {
        ok(
            live(&served, &pem, &["call", "set", &format!("({n} : nat64)")]),
            "set",
        );
    }
    served.kill();
    let log = backup_client::wal::path_of(&offline.image);
    let mut bytes = std::fs::read(&log).unwrap();
    // The first record's page count (after its 24-byte header and the
    // memory's length), as a bit flip would leave it: more pages than the
    // record holds, which a replay must not take for a torn tail.
    bytes[32] ^= 0x10;
    std::fs::write(&log, &bytes).unwrap();
    let image = std::fs::read(&offline.image).unwrap();
    let error = offline.fails(&["call", "get"], 2);
    assert!(error.contains("damaged at byte 0"), "{error}");
    assert!(std::fs::read(&offline.image).unwrap() == image);
    assert!(std::fs::read(&log).unwrap() == bytes);
}

/// What `canister_init` wrote is kept even when the first command on a new
/// image only queries: the installer stays the admin when someone else
/// runs the next command.
#[test]
fn a_new_image_keeps_its_install_after_a_query() {
    let offline = Offline::new("v1_fixture");
    let (admin, stranger) = write_keys(offline.dir.path());
    let as_pem = |pem: &Path, args: &[&str]| {
        let mut all = vec!["--pem", pem.to_str().unwrap()];
        all.extend_from_slice(args);
        offline.ok(&all)
    };
    let first = as_pem(&admin, &["call", "get_authorized"]);
    assert!(first.contains(&whoami(&admin)), "{first}");
    assert!(offline.image.exists(), "the install is on disk");
    let second = as_pem(&stranger, &["call", "get_authorized"]);
    assert!(
        second.contains(&whoami(&admin)) && !second.contains(&whoami(&stranger)),
        "{second}"
    );
}

/// A snapshot folder's stable memory and metadata change together: killed
/// at moments spread over a command that writes them, the folder opens
/// with the old pair or the new one.
#[test]
fn a_snapshot_folder_killed_while_written_opens_old_or_new() {
    let (offline, _) = Offline::with_profiles(10);
    // A larger memory, so that writing it takes a while.
    let mut image = std::fs::read(&offline.image).unwrap();
    image.resize(96 << 20, 0);
    std::fs::write(&offline.image, &image).unwrap();
    let original = offline.path("original");
    common::snapshot_folder(&offline, &original);
    let command = |dir: &Path| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ic-backup"));
        command.arg("--snapshot").arg(dir).args([
            "call",
            "stable_write",
            "(1000 : nat64, blob \"changed\")",
        ]);
        command
    };
    let copy = |to: &Path| {
        let _ = std::fs::remove_dir_all(to);
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(&original).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    };
    // The uninterrupted write, for its duration and its result.
    let whole = offline.path("whole");
    copy(&whole);
    let started = Instant::now();
    let out = command(&whole).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let duration = started.elapsed();
    let new = std::fs::read(whole.join("stable_memory.bin")).unwrap();
    assert!(new != image);
    let trial = offline.path("trial");
    // Killed while its commit was being written (its temporary file, and
    // the new pair, on disk; the commit not): the old pair, nothing left.
    copy(&trial);
    std::fs::write(
        trial.join("ic-backup-commit.tmp"),
        b"stable_memory.bin.new -> ",
    )
    .unwrap();
    std::fs::write(trial.join("stable_memory.bin.new"), &new).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ic-backup"))
        .arg("--snapshot")
        .arg(&trial)
        .args(["call", "profile_count"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(std::fs::read(trial.join("stable_memory.bin")).unwrap() == image);
    assert!(!trial.join("ic-backup-commit.tmp").exists());
    assert!(!trial.join("stable_memory.bin.new").exists());
    let mut seen = [0usize; 2];
    for n in 0..12u32 {
        copy(&trial);
        let mut child = command(&trial).spawn().unwrap();
        std::thread::sleep(duration.mul_f64(f64::from(n) / 11.0));
        let _ = child.kill();
        child.wait().unwrap();
        // Whoever opens the folder next finishes or forgets the write.
        let out = Command::new(env!("CARGO_BIN_EXE_ic-backup"))
            .arg("--snapshot")
            .arg(&trial)
            .args(["call", "profile_count"])
            .output()
            .unwrap();
        assert!(out.status.success(), "kill {n}: {}", text(&out.stderr));
        let now = std::fs::read(trial.join("stable_memory.bin")).unwrap();
        let metadata: serde_json::Value =
            serde_json::from_slice(&std::fs::read(trial.join("metadata.json")).unwrap()).unwrap();
        assert_eq!(
            metadata["stable_memory_size"].as_u64(),
            Some(now.len() as u64)
        );
        if now == image {
            seen[0] += 1;
        } else {
            assert!(
                now == new,
                "kill {n}: neither the old nor the new stable memory"
            );
            seen[1] += 1;
        }
        let names: Vec<String> = std::fs::read_dir(&trial)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            !names
                .iter()
                .any(|name| name.ends_with(".new") || name.contains("commit")),
            "{names:?}"
        );
    }
    eprintln!("old pair {} times, new pair {} times", seen[0], seen[1]);
}

/// A message the real icp-cli signed (`--sign-only`) and sent (`message
/// send`) runs once: sent again after the server was stopped, and after
/// it was killed, it is answered from its status. icp, configured with
/// the root key printed before the restarts, verifies every reply after.
#[test]
fn icp_cli_signed_messages_run_once_across_restarts() {
    let offline = Offline::new("ledger");
    let home = offline.path("home");
    std::fs::create_dir_all(&home).unwrap();
    icp_ok(
        &home,
        &["identity", "new", "admin", "--storage", "plaintext"],
    );
    icp_ok(&home, &["identity", "default", "admin"]);
    let me = icp_ok(&home, &["identity", "principal"]).trim().to_string();
    let extra = ["--controller", &me];
    let served = Served::start(&offline, &offline.image, &extra);
    let (canister, root_key) = (served.canister.clone(), served.root_key.clone());
    let call = |served: &Served, args: &[&str]| {
        let mut all = vec![
            "canister",
            "call",
            "-n",
            &served.url,
            "-k",
            &root_key,
            &canister,
        ];
        all.extend_from_slice(args);
        icp_ok(&home, &all)
    };
    let opened = call(
        &served,
        &[
            "open_account",
            &format!("(principal \"{me}\", variant {{ Checking }}, null)"),
        ],
    );
    let account = number(&opened);
    let message = offline.path("deposit.json");
    call(
        &served,
        &[
            "deposit",
            &format!("({account} : nat64, 5 : nat64)"),
            "--sign-only",
            message.to_str().unwrap(),
        ],
    );
    let send = |served: &Served| {
        // The server listens on a new port after a restart: the message is
        // sent there, signed as it was.
        let mut signed: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&message).unwrap()).unwrap();
        signed["network"]["url"] = format!("{}/", served.url).into();
        std::fs::write(&message, serde_json::to_vec(&signed).unwrap()).unwrap();
        icp_ok(&home, &["message", "send", "-y", message.to_str().unwrap()])
    };
    assert!(send(&served).contains("Ok = 5"));
    served.stop();
    let served = Served::start(&offline, &offline.image, &extra);
    assert!(send(&served).contains("Ok = 5"), "answered from its status");
    served.kill();
    let served = Served::start(&offline, &offline.image, &extra);
    assert!(send(&served).contains("Ok = 5"), "answered from its status");
    let account = call(
        &served,
        &["get_account", &format!("({account} : nat64)"), "--query"],
    );
    assert!(
        account.contains("balance = 5 : nat64"),
        "deposited once: {account}"
    );
    served.stop();
}

/// Ctrl-C stops the server whatever is queued: the call running finishes,
/// the calls waiting are answered 503 (or find the server gone), and the
/// server folds its log and exits.
#[test]
fn ctrl_c_stops_the_server_whatever_is_queued() {
    let (_offline, served) = cell(&[]);
    let canister = Principal::from_text(&served.canister).unwrap();
    let spin = || anonymous_call(canister, "spin", Encode!(&20_000_000u64).unwrap());
    let started = Instant::now();
    let (status, _) = post(
        &served.url,
        &call_path(&served.canister),
        "application/cbor",
        &spin(),
    );
    assert_eq!(status, 200);
    let one = started.elapsed();
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let (url, path, call) = (served.url.clone(), call_path(&served.canister), spin());
            std::thread::spawn(move || try_post(&url, &path, "application/cbor", &call))
        })
        .collect();
    std::thread::sleep(one / 2);
    let stopping = Instant::now();
    served.stop();
    let stopped = stopping.elapsed();
    eprintln!("one call {one:?}; stopped in {stopped:?} with 8 queued");
    assert!(
        stopped < one * 3 + Duration::from_secs(2),
        "stopped after {stopped:?}, a call takes {one:?} and 8 were queued"
    );
    let answered: Vec<Option<u16>> = clients
        .into_iter()
        .map(|client| client.join().unwrap().map(|(status, _)| status))
        .collect();
    assert!(
        answered
            .iter()
            .filter(|status| **status == Some(200))
            .count()
            < 8,
        "{answered:?}"
    );
}

/// When the log cannot be written (here the file size limit of `ulimit -f`
/// is reached), the call that could not be logged is answered 500 saying
/// it is not applied, the server stops, and the image opens as it was
/// before that call, with every call replied to before it.
#[test]
fn a_call_that_cannot_be_logged_is_reported_not_applied_and_the_server_stops() {
    let offline = Offline::new("cell_fixture");
    let served = serve_limited(&offline, 4096, &[]);
    let canister = Principal::from_text(&served.canister).unwrap();
    let mut replied = Vec::new();
    let failure = loop {
        let n = replied.len() as u64 + 1;
        let text = format!("{n}").repeat(900_000);
        let call = anonymous_call(canister, "set_both", Encode!(&n, &text).unwrap());
        let (status, body) = post(
            &served.url,
            &call_path(&served.canister),
            "application/cbor",
            &call,
        );
        if status != 200 {
            break (status, text_of(&body));
        }
        assert_eq!(call_outcome(&body).0, "replied");
        replied.push(n);
        assert!(n < 20, "the log never reached the limit");
    };
    assert_eq!(failure.0, 500, "{}", failure.1);
    assert!(failure.1.contains("it is not applied"), "{}", failure.1);
    let last = *replied.last().expect("some calls fit");
    // The server stopped by itself.
    wait_gone(&served);
    drop(served);
    let got = offline.ok(&["call", "get"]);
    assert!(
        got.contains(&format!("{last} : nat64")) && !got.contains(&format!("{} : nat64", last + 1)),
        "{}",
        &got[..got.len().min(80)]
    );
}

fn text_of(body: &[u8]) -> String {
    text(body)
}

/// `serve` of `offline`'s image under a file size limit of `kib` KiB (and
/// SIGXFSZ ignored, so writes past it fail with EFBIG).
fn serve_limited(offline: &Offline, kib: u32, extra: &[&str]) -> Served {
    let mut command = Command::new("bash");
    command
        .arg("-c")
        .arg(format!("trap '' XFSZ; ulimit -f {kib}; exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_ic-backup"))
        .arg("--wasm")
        .arg(&offline.wasm)
        .arg("--image")
        .arg(&offline.image)
        .args(["--json", "serve"])
        .args(extra);
    Served::spawn(command)
}

/// Waits until `served` no longer answers.
fn wait_gone(served: &Served) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while try_post(&served.url, "/api/v2/status", "application/cbor", b"").is_some() {
        assert!(Instant::now() < deadline, "the server did not stop");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// When the log cannot be folded into the image (the image is over the
/// file size limit), the call whose record is in the log is answered as it
/// ran (it is applied), the server stops, and the next opener replays it.
#[test]
fn a_fold_that_fails_answers_the_logged_call_and_the_server_stops() {
    let offline = Offline::new("cell_fixture");
    offline.ok(&[
        "call",
        "set_both",
        &format!("(1 : nat64, \"{}\")", "t".repeat(100_000)),
    ]);
    assert!(std::fs::metadata(&offline.image).unwrap().len() > 100 << 10);
    let served = serve_limited(&offline, 100, &["--fold-interval", "0.01"]);
    std::thread::sleep(Duration::from_millis(50));
    let canister = Principal::from_text(&served.canister).unwrap();
    let call = anonymous_call(canister, "set", Encode!(&7u64).unwrap());
    let (status, body) = post(
        &served.url,
        &call_path(&served.canister),
        "application/cbor",
        &call,
    );
    assert_eq!(status, 200, "{}", text(&body));
    assert_eq!(
        call_outcome(&body).0,
        "replied",
        "the call is applied, and said so"
    );
    wait_gone(&served);
    drop(served);
    let got = offline.ok(&["call", "get"]);
    assert!(got.contains("7 : nat64"), "{}", &got[..got.len().min(80)]);
}

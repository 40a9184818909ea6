//! `ic-backup serve` end to end: the CLI's live mode (ic-agent) against the
//! example canister's real wasm served over the IC's HTTP interface, with
//! the same commands run offline on a copy of the image as the reference;
//! strangers refused; bad requests refused as the IC refuses them.

use crate::common;

use common::serving::*;
use common::{npm_packages, principal, Offline};
use ic_transport_types::{Delegation, Envelope, EnvelopeContent, SignedDelegation};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};

/// The CLI in live mode against `served`, as `pem`, in `dir`.
fn live(served: &Served, pem: &Path, dir: &Path, args: &[&str]) -> std::process::Output {
    live_command(served, pem, dir, args).output().unwrap()
}

fn live_command(served: &Served, pem: &Path, dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ic-backup"));
    command
        .current_dir(dir)
        .args(["--network", &served.url, "--canister", &served.canister])
        .args(["--pem", pem.to_str().unwrap()])
        .args(args);
    command
}

/// A live backup with pages of several spans in flight, killed (SIGKILL) at
/// moments spread over an uninterrupted run and run again, ends with the
/// uninterrupted run's file, byte for byte, and nothing else in its folder.
#[test]
fn a_live_parallel_backup_killed_at_any_moment_loses_nothing() {
    let (offline, _) = Offline::with_profiles(400);
    let (admin, _) = write_keys(offline.dir.path());
    let served = Served::start(&offline, &offline.image, &["--controller", &whoami(&admin)]);
    let args = [
        "backup",
        "profiles",
        "-o",
        "out.json",
        "--max-bytes",
        "2000",
        "--parallel",
        "4",
    ];
    let folder = |name: &str| {
        let dir = offline.path(name);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    };
    let reference = folder("reference");
    let began = std::time::Instant::now();
    ok(
        live(&served, &admin, &reference, &args),
        "the uninterrupted backup",
    );
    let duration = began.elapsed();
    let expected = std::fs::read(reference.join("out.json")).unwrap();
    let mut state = 0x5EED_B4C6_u64;
    for trial in 0..8 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let moment = duration.mul_f64((state % 1000) as f64 / 1000.0);
        let dir = folder(&format!("trial-{trial}"));
        let mut child = live_command(&served, &admin, &dir, &args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(moment);
        let _ = child.kill();
        child.wait().unwrap();
        ok(live(&served, &admin, &dir, &args), "the backup run again");
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["out.json"], "trial {trial} (killed at {moment:?})");
        assert!(
            std::fs::read(dir.join("out.json")).unwrap() == expected,
            "trial {trial} (killed at {moment:?}): the file differs"
        );
    }
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
    // The offline run goes on while the live one runs: they share nothing.
    let both = |args: &[&str]| -> (String, String) {
        let offline_run = offline
            .command(&reference, &["--pem", &pem, "--controller", &admin_id])
            .current_dir(&offline_dir)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let live_out = ok(
            live(&served, &admin, &live_dir, args),
            &format!("live {args:?}"),
        );
        let out = offline_run.wait_with_output().unwrap();
        let offline_out = ok(out, &format!("offline {args:?}"));
        (live_out, offline_out)
    };
    // A live lossless backup names where it came from, which an offline
    // image does not know: those two header lines aside, the same bytes.
    let origin = format!(
        "  \"network\": \"{}\",\n  \"canister\": \"{}\",\n",
        served.url, served.canister
    );
    let same_file = |name: &str| {
        let mut live_bytes = std::fs::read(live_dir.join(name)).unwrap();
        let offline_bytes = std::fs::read(offline_dir.join(name)).unwrap();
        if offline_bytes.starts_with(b"{") {
            let at = live_bytes
                .windows(origin.len())
                .position(|w| w == origin.as_bytes())
                .unwrap_or_else(|| panic!("{name}: the live file names no origin"));
            live_bytes.drain(at..at + origin.len());
        }
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

    // Backups in every format, several pages each, the offline ones through
    // the canister's pages as the live ones are (the same pages, the same
    // report)...
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
            "--through-wasm",
        ]);
        assert_eq!(a, b);
        let bytes = same_file(&name);
        assert!(!bytes.is_empty());
    }
    // ...and read from the image's bytes (the offline default): the same file.
    let native = offline_dir.join("native.json");
    let out = offline
        .command(
            &reference,
            &["backup", "profiles", "-o", native.to_str().unwrap()],
        )
        .output()
        .unwrap();
    let report = ok(out, "offline backup read natively");
    assert!(report.contains("read from the image"), "{report}");
    assert!(
        std::fs::read(&native).unwrap()
            == std::fs::read(offline_dir.join("lossless.json")).unwrap()
    );
    let plain = common::entries(&live_dir.join("json.json"));
    assert_eq!(plain.as_array().unwrap().len(), 300);
    assert!(
        plain == common::entries(&source),
        "the live backup is not the data restored"
    );

    // Restore, plain and with --replace, of a smaller set.
    // Each run reads its own copy (a restore keeps its progress beside the
    // file it reads: two runs at once over one file would share it).
    common::profiles_file(&live_dir.join("fewer.json"), 40);
    std::fs::copy(live_dir.join("fewer.json"), offline_dir.join("fewer.json")).unwrap();
    let fewer = "fewer.json";
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
    let before = durable_state(&offline.image);
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
        durable_state(&offline.image) == before,
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

#[test]
fn bad_requests_are_refused_as_the_ic_refuses_them_and_change_nothing() {
    let (offline, _) = Offline::with_profiles(5);
    let served = Served::start(&offline, &offline.image, &[]);
    let canister = candid::Principal::from_text(&served.canister).unwrap();
    let call_path = format!("/api/v3/canister/{canister}/call");
    let (mallory, other) = (Key::new(5), Key::new(6));
    let expiry = now_nanos() + 120_000_000_000;
    let content = || set_profile_call(mallory.principal(), canister, "mallory", expiry);
    let before = durable_state(&offline.image);
    let cbor = "application/cbor";

    let refused =
        |what: &str, (status, body): (u16, Vec<u8>), expected_status: u16, expected: &str| {
            assert_eq!(status, expected_status, "{what}: {}", text(&body));
            assert!(text(&body).contains(expected), "{what}: {}", text(&body));
            assert!(
                durable_state(&offline.image) == before,
                "{what} changed the image"
            );
        };

    // A signature that does not verify.
    let mut envelope: Envelope =
        serde_cbor::from_slice(&signed(content(), &mallory, None, &mallory)).unwrap();
    envelope.sender_sig.as_mut().unwrap()[7] ^= 1;
    refused(
        "a wrong signature",
        post(&served.url, &call_path, cbor, &envelope.encode_bytes()),
        400,
        "Invalid signature",
    );
    // Signed by another key than the sender's.
    refused(
        "another key",
        post(
            &served.url,
            &call_path,
            cbor,
            &signed(content(), &other, None, &other),
        ),
        400,
        "is not the principal of the public key",
    );
    // Expired, and too far ahead.
    for (what, at) in [
        ("expired", now_nanos() - 1_000_000_000),
        ("too far ahead", now_nanos() + 600_000_000_000),
    ] {
        let late = set_profile_call(mallory.principal(), canister, "mallory", at);
        refused(
            what,
            post(
                &served.url,
                &call_path,
                cbor,
                &signed(late, &mallory, None, &mallory),
            ),
            400,
            "Invalid request expiry",
        );
    }
    // Another canister, in the URL only, and in both.
    let elsewhere = candid::Principal::from_text("ryjl3-tyaaa-aaaaa-aaaba-cai").unwrap();
    refused(
        "another canister in the URL",
        post(
            &served.url,
            &format!("/api/v3/canister/{elsewhere}/call"),
            cbor,
            &signed(content(), &mallory, None, &mallory),
        ),
        400,
        "does not match effective canister id in URL",
    );
    let there = set_profile_call(mallory.principal(), elsewhere, "mallory", expiry);
    let (status, body) = post(
        &served.url,
        &format!("/api/v3/canister/{elsewhere}/call"),
        cbor,
        &signed(there, &mallory, None, &mallory),
    );
    assert_eq!(status, 200);
    let reject: ic_transport_types::TransportCallResponse = serde_cbor::from_slice(&body).unwrap();
    let ic_transport_types::TransportCallResponse::NonReplicatedRejection(reject) = reject else {
        panic!("expected a non-replicated rejection, found {reject:?}");
    };
    assert_eq!(
        reject.reject_code,
        ic_transport_types::RejectCode::DestinationInvalid
    );
    assert_eq!(reject.error_code.as_deref(), Some("IC0301"));
    // Not CBOR, and not said to be.
    refused(
        "a body that is not CBOR",
        post(&served.url, &call_path, cbor, b"{\"hello\": 1}"),
        400,
        "Could not parse body",
    );
    refused(
        "a text body",
        post(&served.url, &call_path, "text/plain", b"hello"),
        400,
        "expected application/cbor",
    );
    // A query sent to the call endpoint.
    let query = EnvelopeContent::Query {
        ingress_expiry: expiry,
        sender: mallory.principal(),
        canister_id: canister,
        method_name: "get_profile".into(),
        arg: b"DIDL\x00\x00".to_vec(),
        nonce: None,
        sender_info: None,
    };
    refused(
        "a query at the call endpoint",
        post(
            &served.url,
            &call_path,
            cbor,
            &signed(query, &mallory, None, &mallory),
        ),
        400,
        "expected request_type `call`",
    );
    // Over the ingress limit, and over the HTTP body limit.
    let mut big = content();
    if let EnvelopeContent::Call { arg, .. } = &mut big {
        arg.resize(2 * 1024 * 1024 + 1, 0);
    }
    refused(
        "an ingress message over 2 MiB",
        post(
            &served.url,
            &call_path,
            cbor,
            &signed(big, &mallory, None, &mallory),
        ),
        413,
        "is too large",
    );
    refused(
        "a body over 5 MiB",
        post(&served.url, &call_path, cbor, &vec![0u8; 6 << 20]),
        413,
        "over the limit",
    );
    // A delegation that expired, one for other canisters, and a broken chain.
    let session = Key::new(7);
    let delegation = |expiration: u64, targets: Option<Vec<candid::Principal>>, signer: &Key| {
        let delegation = Delegation {
            pubkey: session.der(),
            expiration,
            targets,
            permissions: None,
        };
        SignedDelegation {
            signature: signer.sign(&delegation.signable()),
            delegation,
        }
    };
    for (what, chain, expected) in [
        (
            "an expired delegation",
            delegation(now_nanos() - 1, None, &mallory),
            "Invalid delegation expiry",
        ),
        (
            "a delegation to other canisters",
            delegation(expiry, Some(vec![elsewhere]), &mallory),
            "not one of the delegation targets",
        ),
        (
            "a delegation signed by a stranger",
            delegation(expiry, None, &other),
            "Invalid delegation",
        ),
        (
            "a delegation for queries only",
            {
                let delegation = Delegation {
                    pubkey: session.der(),
                    expiration: expiry,
                    targets: None,
                    permissions: Some(ic_transport_types::DelegationPermissions::Queries),
                };
                SignedDelegation {
                    signature: mallory.sign(&delegation.signable()),
                    delegation,
                }
            },
            "allows only queries",
        ),
    ] {
        refused(
            what,
            post(
                &served.url,
                &call_path,
                cbor,
                &signed(content(), &mallory, Some(vec![chain]), &session),
            ),
            400,
            expected,
        );
    }
    // Nothing ran: mallory has no profile.
    let (status, body) = post(
        &served.url,
        &format!("/api/v3/canister/{canister}/query"),
        cbor,
        &signed(
            EnvelopeContent::Query {
                ingress_expiry: expiry,
                sender: mallory.principal(),
                canister_id: canister,
                method_name: "get_profile".into(),
                arg: b"DIDL\x00\x00".to_vec(),
                nonce: None,
                sender_info: None,
            },
            &mallory,
            None,
            &mallory,
        ),
    );
    assert_eq!(status, 200, "{}", text(&body));
    let response: ic_transport_types::QueryResponse = serde_cbor::from_slice(&body).unwrap();
    let ic_transport_types::QueryResponse::Replied { reply, signatures } = response else {
        panic!("{response:?}")
    };
    assert_eq!(signatures.len(), 1);
    assert_eq!(
        candid::decode_one::<Option<candid::Reserved>>(&reply.arg).unwrap(),
        None
    );

    // The control: the same call, well signed through a good delegation, runs once.
    let chain = vec![delegation(expiry, Some(vec![canister]), &mallory)];
    let good = signed(content(), &mallory, Some(chain), &session);
    let (status, body) = post(&served.url, &call_path, cbor, &good);
    assert_eq!(status, 200, "{}", text(&body));
    let after = durable_state(&offline.image);
    assert!(after != before, "the good call did not reach the image");
    // A replay is answered from the status, not run again (its time would differ).
    std::thread::sleep(std::time::Duration::from_millis(5));
    let (status, _) = post(&served.url, &call_path, cbor, &good);
    assert_eq!(status, 200);
    assert!(durable_state(&offline.image) == after, "a replay ran again");
    // Its status is the sender's to read, nobody else's.
    let id = content().to_request_id();
    let read = |reader: &Key| {
        let read = EnvelopeContent::ReadState {
            ingress_expiry: expiry,
            sender: reader.principal(),
            paths: vec![vec!["request_status".into(), id.as_slice().to_vec().into()]],
        };
        post(
            &served.url,
            &format!("/api/v3/canister/{canister}/read_state"),
            cbor,
            &signed(read, reader, None, reader),
        )
    };
    assert_eq!(read(&mallory).0, 200);
    let (status, body) = read(&other);
    assert_eq!(status, 403, "{}", text(&body));
    // Nor all statuses at once, nor a whole canister subtree (private metadata).
    for path in [
        vec!["request_status".into()],
        vec!["canister".into(), canister.as_slice().to_vec().into()],
        vec![
            "canister".into(),
            canister.as_slice().to_vec().into(),
            "metadata".into(),
        ],
        vec![],
    ] {
        let read = EnvelopeContent::ReadState {
            ingress_expiry: expiry,
            sender: other.principal(),
            paths: vec![path.clone()],
        };
        let (status, body) = post(
            &served.url,
            &format!("/api/v3/canister/{canister}/read_state"),
            cbor,
            &signed(read, &other, None, &other),
        );
        assert!(
            status == 400 || status == 404,
            "{path:?}: {status} {}",
            text(&body)
        );
        assert!(
            text(&body).contains("Invalid path requested"),
            "{path:?}: {}",
            text(&body)
        );
    }
    served.stop();
    assert!(
        std::fs::read(&offline.image).unwrap() != before,
        "the good call is in the image after the stop"
    );
}

/// The agent-js client of `scripts/agent-js/serve-client.mjs`, where node
/// is installed (its packages installed on first use, `npm_packages`).
#[test]
fn an_agent_js_client_calls_the_served_canister_and_verifies_its_certificates() {
    let Some(scripts) = npm_packages() else {
        eprintln!("skipped: node and npm are not installed");
        return;
    };
    let (offline, _) = Offline::with_profiles(3);
    let served = Served::start(&offline, &offline.image, &[]);
    let out = Command::new("node")
        .current_dir(scripts)
        .args(["serve-client.mjs", &served.url, &served.canister])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the agent-js client failed: {}",
        text(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    let carol = Key::new(3).principal().to_text();
    assert_eq!(seen["principal"], carol.as_str(), "{seen}");
    assert_eq!(seen["before"], Value::Null, "{seen}");
    assert_eq!(seen["after_sync"], "carol", "{seen}");
    assert_eq!(seen["after_async"], "carol v2", "{seen}");
    assert_eq!(seen["status_time"], true, "{seen}");
    assert!(seen["time_bytes"].as_u64().unwrap() > 0, "{seen}");
    assert_eq!(seen["candid_has_get_profile"], true, "{seen}");
    assert_eq!(seen["broken_refused"], true, "{seen}");
    use sha2::Digest;
    let module_hash = hex::encode(sha2::Sha256::digest(std::fs::read(&offline.wasm).unwrap()));
    assert_eq!(seen["module_hash"], module_hash.as_str(), "{seen}");
    let operator = offline.ok(&["whoami"]).trim().to_string();
    assert_eq!(seen["controllers"], serde_json::json!([operator]), "{seen}");
    served.stop();
    // What the client wrote is in the image.
    let profile = offline.ok(&[
        "call",
        "get_profile_of",
        &format!("(principal \"{carol}\")"),
    ]);
    assert!(profile.contains("carol v2"), "{profile}");
}

/// Sets its certified data in `certify`; `read` replies with the data
/// certificate a query sees.
const CERTIFYING: &str = r#"
(module
  (import "ic0" "msg_reply" (func $reply))
  (import "ic0" "msg_reply_data_append" (func $append (param i32 i32)))
  (import "ic0" "msg_arg_data_size" (func $arg_size (result i32)))
  (import "ic0" "msg_arg_data_copy" (func $arg_copy (param i32 i32 i32)))
  (import "ic0" "certified_data_set" (func $certify (param i32 i32)))
  (import "ic0" "data_certificate_present" (func $present (result i32)))
  (import "ic0" "data_certificate_size" (func $size (result i32)))
  (import "ic0" "data_certificate_copy" (func $copy (param i32 i32 i32)))
  (memory (export "memory") 1)
  (func (export "canister_update certify")
    (call $arg_copy (i32.const 0) (i32.const 0) (call $arg_size))
    (call $certify (i32.const 0) (call $arg_size))
    (call $reply))
  (func (export "canister_query read")
    (if (call $present)
      (then
        (call $copy (i32.const 100) (i32.const 0) (call $size))
        (call $append (i32.const 100) (call $size))))
    (call $reply))
)
"#;

#[test]
fn queries_see_a_data_certificate_that_agents_verify() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("certifying.wasm");
    std::fs::write(&wasm, wat::parse_str(CERTIFYING).unwrap()).unwrap();
    let offline = Offline {
        wasm,
        image: dir.path().join("image.bin"),
        dir,
    };
    let admin = ic_agent::identity::BasicIdentity::from_pem(ADMIN.as_bytes()).unwrap();
    use ic_agent::Identity;
    let admin_id = admin.sender().unwrap().to_text();
    let served = Served::start(&offline, &offline.image, &["--controller", &admin_id]);
    let canister = candid::Principal::from_text(&served.canister).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let agent = ic_agent::Agent::builder()
        .with_url(&served.url)
        .with_identity(ic_agent::identity::BasicIdentity::from_pem(ADMIN.as_bytes()).unwrap())
        .build()
        .unwrap();
    runtime.block_on(agent.fetch_root_key()).unwrap();
    let data = [42u8; 32];
    runtime
        .block_on(
            agent
                .update(&canister, "certify")
                .with_arg(data.to_vec())
                .call_and_wait(),
        )
        .unwrap();
    let bytes = runtime
        .block_on(agent.query(&canister, "read").call())
        .unwrap();
    let certificate: ic_agent::Certificate = serde_cbor::from_slice(&bytes).unwrap();
    agent.verify(&certificate, canister).unwrap();
    let path: [&[u8]; 3] = [b"canister", canister.as_slice(), b"certified_data"];
    assert_eq!(
        certificate.tree.lookup_path(path),
        ic_agent::hash_tree::LookupResult::Found(&data[..])
    );
    // The same certified data through read_state, and the subnet's own paths.
    let module_hash = runtime
        .block_on(agent.read_state_canister_info(canister, "module_hash"))
        .unwrap();
    use sha2::Digest;
    assert_eq!(
        module_hash,
        sha2::Sha256::digest(std::fs::read(&offline.wasm).unwrap()).to_vec()
    );
    let subnet = runtime
        .block_on(agent.fetch_subnet_by_canister(&canister))
        .unwrap();
    assert!(subnet.contains_canister(&canister));
    assert_eq!(subnet.iter_nodes().count(), 1);
    let ranges = runtime
        .block_on(agent.read_state_subnet_canister_ranges(subnet.id()))
        .unwrap();
    assert_eq!(ranges, vec![(canister, canister)]);
    // The management canister answers its controllers' canister_status.
    #[derive(candid::CandidType)]
    struct CanisterIdArg {
        canister_id: candid::Principal,
    }
    let status = runtime
        .block_on(
            agent
                .update(&candid::Principal::management_canister(), "canister_status")
                .with_effective_canister_id(canister)
                .with_arg(
                    candid::encode_one(CanisterIdArg {
                        canister_id: canister,
                    })
                    .unwrap(),
                )
                .call_and_wait(),
        )
        .unwrap();
    let status = candid::IDLArgs::from_bytes(&status).unwrap().to_string();
    assert!(status.contains(&admin_id), "{status}");
    served.stop();
}

#[test]
fn a_served_snapshot_folder_keeps_its_files_in_step() {
    let (offline, _) = Offline::with_profiles(20);
    let dir = offline.path("snapshot");
    common::snapshot_folder(&offline, &dir);
    let (admin, _) = write_keys(offline.dir.path());
    let mut command = Command::new(env!("CARGO_BIN_EXE_ic-backup"));
    command
        .arg("--snapshot")
        .arg(&dir)
        .args(["--json", "serve"]);
    let served = Served::spawn(command);
    let args = "(record { username = opt \"dave\"; email = null; password = null; updated_time_msecs = null })";
    ok(
        live(
            &served,
            &admin,
            offline.dir.path(),
            &["call", "set_profile", args],
        ),
        "set_profile",
    );
    // The module hash is the IC's: of the module as installed, gzipped.
    let module = std::fs::read(dir.join("wasm_module.bin")).unwrap();
    use sha2::Digest;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let agent = ic_agent::Agent::builder()
        .with_url(&served.url)
        .build()
        .unwrap();
    runtime.block_on(agent.fetch_root_key()).unwrap();
    let canister = candid::Principal::from_text(&served.canister).unwrap();
    let hash = runtime
        .block_on(agent.read_state_canister_info(canister, "module_hash"))
        .unwrap();
    assert_eq!(hash, sha2::Sha256::digest(&module).to_vec());
    served.stop();
    let metadata: Value =
        serde_json::from_slice(&std::fs::read(dir.join("metadata.json")).unwrap()).unwrap();
    let stable = std::fs::read(dir.join("stable_memory.bin")).unwrap();
    assert_eq!(
        metadata["stable_memory_size"].as_u64().unwrap(),
        stable.len() as u64
    );
    assert!(
        stable.windows(4).any(|w| w == b"dave"),
        "the update is in stable_memory.bin"
    );
}

#[test]
fn live_queries_are_retried_through_failures_and_stalls_and_given_up_in_the_end() {
    let (offline, _) = Offline::with_profiles(200);
    let (admin, _) = write_keys(offline.dir.path());
    let admin_id = whoami(&admin);
    let dir = offline.path("live");
    std::fs::create_dir_all(&dir).unwrap();
    // Every third query fails (502), every fifth takes 30 s: with a 2 s
    // timeout each is tried again, and the dump is whole.
    let served = Served::start(
        &offline,
        &offline.image,
        &[
            "--controller",
            &admin_id,
            "--fail-queries",
            "3",
            "--stall-queries",
            "5",
        ],
    );
    let dump_args = [
        "--timeout",
        "2",
        "dump",
        "-o",
        "dump.dat",
        "--chunk-bytes",
        "524288",
        "--parallel",
        "4",
    ];
    ok(
        live(&served, &admin, &dir, &dump_args),
        "dump through faults",
    );
    assert!(
        std::fs::read(dir.join("dump.dat")).unwrap() == std::fs::read(&offline.image).unwrap(),
        "the dump through faults is not the image"
    );
    served.stop();
    // A query that always fails is given up, saying so.
    let served = Served::start(
        &offline,
        &offline.image,
        &["--controller", &admin_id, "--fail-queries", "1"],
    );
    let out = live(&served, &admin, &dir, &["dump", "-o", "again.dat"]);
    assert_eq!(out.status.code(), Some(1));
    let error = text(&out.stderr);
    assert!(
        error.contains("tried 6 times") && error.contains("502"),
        "{error}"
    );
    served.stop();
}

#[test]
fn a_killed_server_loses_no_update_it_replied_to() {
    let (offline, _) = Offline::with_profiles(20);
    let served = Served::start(&offline, &offline.image, &[]);
    let canister = candid::Principal::from_text(&served.canister).unwrap();
    let path = format!("/api/v3/canister/{canister}/call");
    let users: Vec<Key> = (40..50).map(Key::new).collect();
    for (n, user) in users.iter().enumerate() {
        let call = set_profile_call(
            user.principal(),
            canister,
            &format!("user-{n}"),
            now_nanos() + 60_000_000_000,
        );
        let (status, body) = post(
            &served.url,
            &path,
            "application/cbor",
            &signed(call, user, None, user),
        );
        assert_eq!(status, 200, "{}", text(&body));
        let replied: ic_transport_types::TransportCallResponse =
            serde_cbor::from_slice(&body).unwrap();
        assert!(matches!(
            replied,
            ic_transport_types::TransportCallResponse::Replied { .. }
        ));
    }
    // The replies are in the log beside the image, not yet in the image.
    let log = backup_client::wal::path_of(&offline.image);
    assert!(
        std::fs::metadata(&log).unwrap().len() > 0,
        "no write-ahead log"
    );
    served.kill(); // SIGKILL: no chance to save anything
                   // The next opening replays the log: every replied update is there.
    for (n, user) in users.iter().enumerate() {
        let profile = offline.ok(&[
            "call",
            "get_profile_of",
            &format!("(principal \"{}\")", user.principal()),
        ]);
        assert!(
            profile.contains(&format!("user-{n}")),
            "update {n} was lost: {profile}"
        );
    }
    assert!(
        !log.exists(),
        "the log was folded into the image and removed"
    );
}

/// A live backup names its canister (and network); restored into a
/// canister of another id it is refused, nothing sent, unless
/// `--from-canister` names the file's canister.
#[test]
fn a_lossless_file_of_another_canister_is_refused_unless_named() {
    let (offline, _) = Offline::with_profiles(5);
    let (admin, _) = write_keys(offline.dir.path());
    let served = Served::start(&offline, &offline.image, &["--controller", &whoami(&admin)]);
    let dir = offline.dir.path();
    let file = offline.path("live.json");
    ok(
        live(
            &served,
            &admin,
            dir,
            &["backup", "profiles", "-o", file.to_str().unwrap()],
        ),
        "backup",
    );
    let mut document: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(document["canister"], Value::from(served.canister.clone()));
    assert_eq!(document["network"], Value::from(served.url.clone()));
    // The same canister: restored as it is.
    ok(
        live(
            &served,
            &admin,
            dir,
            &["restore", "profiles", "-i", file.to_str().unwrap()],
        ),
        "restore",
    );
    let other = "ryjl3-tyaaa-aaaaa-aaaba-cai";
    document["canister"] = Value::from(other);
    std::fs::write(&file, serde_json::to_vec_pretty(&document).unwrap()).unwrap();
    let out = live(
        &served,
        &admin,
        dir,
        &["restore", "profiles", "-i", file.to_str().unwrap()],
    );
    let error = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{error}");
    assert!(
        error.contains(&format!(
            "is a backup of the canister {other}, not {}",
            served.canister
        )) && error.contains(&format!("--from-canister {other}")),
        "{error}"
    );
    ok(
        live(
            &served,
            &admin,
            dir,
            &[
                "restore",
                "profiles",
                "-i",
                file.to_str().unwrap(),
                "--from-canister",
                other,
            ],
        ),
        "restore --from-canister",
    );
    served.stop();
}

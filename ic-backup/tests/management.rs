//! The IC's management canister (`aaaaa-aa`) as the real icp-cli 1.5 uses it
//! against `ic-backup serve`: every `icp canister` command a controller runs
//! on the served canister, and what others are refused, with the IC's reject
//! codes and messages.

use crate::common;

use common::icp_ok;
use common::net::*;
use common::serving::text;
use std::path::Path;

/// `icp canister status` and `icp canister settings show` decode the
/// current `canister_status` record: running, the controllers, the module
/// hash, the canister's memory, the default settings. A stranger is
/// refused the settings with the IC's words.
#[test]
fn icp_reads_the_status_and_the_settings() {
    let net = Net::start();
    let canister = net.canister();
    let status = net.ok(&["canister", "status", &canister]);
    let module_hash = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(
            std::fs::read(&net.offline.wasm).unwrap(),
        ))
    };
    for expected in ["Running", net.admin.as_str(), module_hash.as_str()] {
        assert!(status.contains(expected), "{expected} not in:\n{status}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&net.ok(&["canister", "status", &canister, "--json"])).unwrap();
    assert_eq!(json["id"], canister.as_str());
    assert_eq!(json["status"], "Running");
    assert_eq!(json["module_hash"], format!("0x{module_hash}"));
    let controllers = json["settings"]["controllers"].as_array().unwrap();
    assert!(
        controllers.iter().any(|c| c == net.admin.as_str()),
        "{json}"
    );
    assert_eq!(json["settings"]["freezing_threshold"], "2_592_000");
    assert_eq!(json["settings"]["log_visibility"]["type"], "Controllers");
    // Every kind of memory counted: the module, the heap, stable memory.
    let size = |value: &serde_json::Value| -> u64 {
        value.as_str().unwrap().replace('_', "").parse().unwrap()
    };
    let module_bytes = std::fs::metadata(&net.offline.wasm).unwrap().len();
    let image_bytes = std::fs::metadata(&net.offline.image).unwrap().len();
    assert!(
        size(&json["memory_size"]) > module_bytes + image_bytes,
        "{json}"
    );
    let settings = net.ok(&["canister", "settings", "show", &canister]);
    for expected in [
        net.admin.as_str(),
        "Freezing threshold: 2_592_000",
        "Log visibility: Controllers",
    ] {
        assert!(
            settings.contains(expected),
            "{expected} not in:\n{settings}"
        );
    }
    // An identity with an encrypted key: refused the status until a
    // controller adds it (`settings update --add-controller`), then
    // served. Refused, icp-cli shows what the state tree says of any
    // canister (its controllers and module hash), not whether it runs.
    let status = ["canister", "status", &canister];
    let out = net.run_keeper(&status);
    assert!(
        !text(&out.stdout).contains("Running"),
        "{}",
        text(&out.stdout)
    );
    let password = net.home.join("password");
    let keeper = icp_ok(
        &net.home,
        &[
            "identity",
            "principal",
            "--identity",
            "keeper",
            "--identity-password-file",
            password.to_str().unwrap(),
        ],
    );
    net.ok(&[
        "canister",
        "settings",
        "update",
        &canister,
        "--add-controller",
        keeper.trim(),
    ]);
    let out = net.run_keeper(&status);
    assert!(
        text(&out.stdout).contains("Running") && text(&out.stdout).contains(keeper.trim()),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let out = net.run("stranger", &["canister", "settings", "show", &canister]);
    let said = text(&out.stderr);
    assert!(!out.status.success(), "a stranger read the settings");
    assert!(
        said.contains(&format!(
            "Only controllers of canister {canister} can call ic00 method canister_status"
        )) && said.contains("IC0512"),
        "{said}"
    );
}

/// `icp canister stop`: the canister refuses calls and queries with the
/// IC's words, and stays stopped through a restart of the server and a
/// SIGKILL; `icp canister start` and it answers again. What they changed
/// then holds over `--controller`. A controller added with `icp canister
/// settings update --add-controller` can read the settings, and still can
/// after the server was killed.
#[test]
fn icp_stops_starts_and_adds_a_controller_durably() {
    let mut net = Net::start();
    let canister = net.canister();
    // Before any management call changed the canister, each start's
    // command line says who controls it.
    let stranger = net.stranger.clone();
    net.restart_with(false, &stranger);
    assert!(net
        .run("stranger", &["canister", "settings", "show", &canister])
        .status
        .success());
    net.restart(false);
    let count = ["canister", "call", &canister, "profile_count", "()"];
    let query = [
        "canister",
        "call",
        &canister,
        "profile_count",
        "()",
        "--query",
    ];
    net.ok(&count);
    net.ok(&["canister", "stop", &canister]);
    assert_eq!(status_of(&net)["status"], "Stopped");
    for args in [&count[..], &query[..]] {
        let out = net.run("admin", args);
        let said = text(&out.stderr);
        assert!(!out.status.success(), "{args:?} answered while stopped");
        assert!(
            said.contains(&format!("Canister {canister} is stopped")),
            "{args:?}: {said}"
        );
    }
    net.restart(false);
    assert_eq!(
        status_of(&net)["status"],
        "Stopped",
        "stopped after a restart"
    );
    net.restart(true);
    assert_eq!(
        status_of(&net)["status"],
        "Stopped",
        "stopped after SIGKILL"
    );
    net.ok(&["canister", "start", &canister]);
    assert_eq!(status_of(&net)["status"], "Running");
    net.ok(&count);

    let stranger = net.stranger.clone();
    let show = ["canister", "settings", "show", &canister];
    assert!(!net.run("stranger", &show).status.success());
    // The stop and the start were kept: the command line no longer says
    // who controls the canister.
    net.restart_with(false, &stranger);
    assert!(!net.run("stranger", &show).status.success());
    net.ok(&[
        "canister",
        "settings",
        "update",
        &canister,
        "--add-controller",
        &stranger,
    ]);
    let out = net.run("stranger", &show);
    assert!(out.status.success(), "{}", text(&out.stderr));
    net.restart(true);
    let out = net.run("stranger", &show);
    assert!(
        out.status.success(),
        "the added controller is one after SIGKILL: {}",
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains(&stranger));
}

/// `icp canister logs` shows how the canister's updates trapped (`[TRAP]:
/// ...`), numbered, kept through a SIGKILL of the server; others are
/// refused until `log_visibility` is public.
#[test]
fn icp_reads_the_canister_logs() {
    let mut net = Net::start();
    let canister = net.canister();
    // The anonymous principal cannot keep a profile: the canister traps.
    let out = net.run(
        "anonymous",
        &[
            "canister",
            "call",
            &canister,
            "set_profile",
            &profile_arg("ada"),
        ],
    );
    assert!(!out.status.success());
    let trap = "[TRAP]: the anonymous principal cannot keep a profile";
    let logs = net.ok(&["canister", "logs", &canister]);
    assert!(logs.contains(trap), "{logs}");
    net.restart(true);
    let logs = net.ok(&["canister", "logs", &canister]);
    assert!(logs.contains(trap), "the log after SIGKILL: {logs}");
    let refused = net.run("stranger", &["canister", "logs", &canister]);
    assert!(!refused.status.success());
    let said = text(&refused.stderr);
    assert!(
        said.contains(&format!(
            "Caller {} is not allowed to access canister logs",
            net.stranger
        )),
        "{said}"
    );
    net.ok(&[
        "canister",
        "settings",
        "update",
        &canister,
        "--log-visibility",
        "public",
    ]);
    let out = net.run("stranger", &["canister", "logs", &canister]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(trap));
}

/// `icp canister install --mode upgrade --wasm <the next release>`: the new
/// release's method answers and the profiles are kept; the upgrade holds
/// through a SIGKILL of the server and a restart (the module is kept
/// beside the image, and runs in place of `--wasm`). A stranger is refused
/// with the IC's words, changing nothing.
#[test]
fn icp_upgrades_the_canister_durably() {
    let mut net = Net::start();
    let canister = net.canister();
    net.set_profile("ada");
    let next = common::wasm("profiles_next");
    let next = next.to_str().unwrap();
    let release = ["canister", "call", &canister, "profiles_release", "()"];
    let get = ["canister", "call", &canister, "get_profile", "()"];
    assert!(
        !net.run("admin", &release).status.success(),
        "the first release has no profiles_release"
    );
    let install = [
        "canister", "install", &canister, "--mode", "upgrade", "--wasm", next, "--yes",
    ];
    let out = net.run("stranger", &install);
    assert!(!out.status.success(), "a stranger upgraded the canister");
    let said = text(&out.stderr);
    assert!(
        said.contains(&format!(
            "Only controllers of canister {canister} can call ic00 method"
        )),
        "{said}"
    );
    net.ok(&install);
    let module_hash = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(std::fs::read(next).unwrap()))
    };
    let check = |net: &Net, when: &str| {
        assert!(net.ok(&release).contains("(2 : nat32)"), "{when}");
        assert!(net.ok(&get).contains("\"ada\""), "{when}");
        let status = status_of(net);
        assert_eq!(status["module_hash"], format!("0x{module_hash}"), "{when}");
        assert_eq!(status["status"], "Running", "{when}");
    };
    check(&net, "after the upgrade");
    net.restart(true);
    check(&net, "after SIGKILL");
    net.restart(false);
    check(&net, "after a restart");
}

/// The README's consistent cut, with the real icp-cli against serve:
/// `icp canister stop`, `snapshot create`, `start`, `snapshot download`;
/// `ic-backup --snapshot DIR backup` gives the file a live backup gave at
/// that moment, byte for byte. `snapshot restore` undoes a later change.
/// A profile changed in the folder by `ic-backup --snapshot DIR restore`,
/// `snapshot upload` and `restore` (then an upgrade, so the heap reads
/// the new stable memory) make the change live. The snapshot is still
/// listed after the server was killed; `snapshot delete` removes it.
/// Others, an admin of the canister among them, are refused.
#[test]
fn icp_snapshots_make_a_consistent_cut_and_restore_it() {
    let mut net = Net::start();
    let canister = net.canister();
    net.set_profile("ada");
    let get = ["canister", "call", &canister, "get_profile", "()"];
    // An admin of the canister's endpoints is no controller.
    net.ok(&[
        "canister",
        "call",
        &canister,
        "authorize",
        &format!("(principal \"{}\")", net.stranger),
    ]);
    for args in [
        vec!["canister", "snapshot", "list", &canister],
        vec!["canister", "snapshot", "create", &canister],
    ] {
        let out = net.run("stranger", &args);
        assert!(!out.status.success(), "{args:?} by a non-controller");
        let said = text(&out.stderr);
        assert!(
            said.contains("IC0512") || said.contains("currently running"),
            "{args:?}: {said}"
        );
    }
    // icp-cli takes snapshots of stopped canisters only.
    let refused = net.run("admin", &["canister", "snapshot", "create", &canister]);
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("is currently running"),
        "{}",
        text(&refused.stderr)
    );
    net.ok(&["canister", "stop", &canister]);
    let created = net.ok(&["canister", "snapshot", "create", &canister, "--json"]);
    let json: serde_json::Value = serde_json::from_str(&created).unwrap();
    let id = json["snapshot_id"].as_str().unwrap().to_string();
    net.ok(&["canister", "start", &canister]);
    let live = ok_output(
        net.ic_backup("admin", &["backup", "profiles", "-o", "live.json"]),
        "the live backup",
    );
    drop(live);
    net.restart(true);
    assert_eq!(net.snapshots(), vec![id.clone()], "listed after SIGKILL");
    let dir = net.offline.path("snapshot");
    net.ok(&[
        "canister",
        "snapshot",
        "download",
        &canister,
        &id,
        "-o",
        dir.to_str().unwrap(),
    ]);
    let offline = std::process::Command::new(env!("CARGO_BIN_EXE_ic-backup"))
        .current_dir(net.offline.dir.path())
        .args([
            "--snapshot",
            dir.to_str().unwrap(),
            "backup",
            "profiles",
            "-o",
            "snapshot.json",
        ])
        .output()
        .unwrap();
    ok_output(offline, "the backup of the downloaded snapshot");
    let read = |name: &str| std::fs::read(net.offline.path(name)).unwrap();
    // The same records, in the same bytes; only the header differs (a live
    // backup names its network and canister).
    assert_eq!(
        common::entries(&net.offline.path("live.json")),
        common::entries(&net.offline.path("snapshot.json")),
        "the snapshot's backup differs from the live one"
    );

    // A later change, undone by restoring the snapshot.
    net.set_profile("bob");
    assert!(net.ok(&get).contains("\"bob\""));
    net.ok(&["canister", "stop", &canister]);
    net.ok(&["canister", "snapshot", "restore", &canister, &id]);
    net.ok(&["canister", "start", &canister]);
    assert!(net.ok(&get).contains("\"ada\""), "{}", net.ok(&get));

    // The folder changed offline, uploaded and restored: the change is live.
    let mut entries: serde_json::Value = serde_json::from_slice(&read("snapshot.json")).unwrap();
    let changed = entries.to_string().replace("\"ada\"", "\"cyd\"");
    entries = serde_json::from_str(&changed).unwrap();
    std::fs::write(net.offline.path("changed.json"), entries.to_string()).unwrap();
    let restored = std::process::Command::new(env!("CARGO_BIN_EXE_ic-backup"))
        .current_dir(net.offline.dir.path())
        .args([
            "--snapshot",
            dir.to_str().unwrap(),
            "restore",
            "profiles",
            "-i",
            "changed.json",
        ])
        .output()
        .unwrap();
    ok_output(restored, "the restore into the folder");
    let uploaded = net.ok(&[
        "canister",
        "snapshot",
        "upload",
        &canister,
        "-i",
        dir.to_str().unwrap(),
        "--json",
    ]);
    let json: serde_json::Value = serde_json::from_str(&uploaded).unwrap();
    let uploaded = json["snapshot_id"].as_str().unwrap().to_string();
    net.ok(&["canister", "stop", &canister]);
    net.ok(&["canister", "snapshot", "restore", &canister, &uploaded]);
    net.ok(&["canister", "start", &canister]);
    let wasm = net.offline.wasm.to_str().unwrap().to_string();
    net.ok(&[
        "canister", "install", &canister, "--mode", "upgrade", "--wasm", &wasm, "--yes",
    ]);
    assert!(net.ok(&get).contains("\"cyd\""), "{}", net.ok(&get));
    net.restart(true);
    assert!(
        net.ok(&get).contains("\"cyd\""),
        "after SIGKILL: {}",
        net.ok(&get)
    );

    let mut listed = net.snapshots();
    listed.sort();
    let mut expected = vec![id.clone(), uploaded.clone()];
    expected.sort();
    assert_eq!(listed, expected);
    net.ok(&["canister", "snapshot", "delete", &canister, &id]);
    assert_eq!(net.snapshots(), vec![uploaded]);
}

/// What the client was told before the server was killed.
#[derive(Debug)]
enum Acknowledged {
    Created(String),
    Uploaded(String),
    Installed(String),
}

/// `kill -9` of serve at moments spread over a snapshot's creation, an
/// upload and an install: when the server is next opened, every snapshot
/// the client was told of is listed and downloads whole (an uploaded one
/// with the bytes uploaded), and the module is the last one installed, or
/// the one whose install was cut short; nothing half-made stops the server
/// from opening.
#[test]
fn serve_killed_during_snapshots_and_installs_loses_nothing_acknowledged() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let mut net = Net::start();
    let canister = net.canister();
    net.set_profile("ada");
    net.ok(&["canister", "stop", &canister]);
    // The folder every trial uploads.
    let source = net.offline.path("source");
    let first = snapshot_id(&net.ok(&["canister", "snapshot", "create", &canister, "--json"]));
    let source_dir = source.to_str().unwrap().to_string();
    net.ok(&[
        "canister",
        "snapshot",
        "download",
        &canister,
        &first,
        "-o",
        &source_dir,
    ]);
    net.ok(&["canister", "snapshot", "delete", &canister, &first]);
    let source_stable = std::fs::read(source.join("stable_memory.bin")).unwrap();
    let wasms = [
        common::wasm("profiles_next").to_str().unwrap().to_string(),
        net.offline.wasm.to_str().unwrap().to_string(),
    ];
    let hashes = wasms
        .clone()
        .map(|wasm| sha256_hex(&std::fs::read(wasm).unwrap()));
    let killed = AtomicBool::new(false);
    let trial = |net: &Net, wasm: &str| -> Vec<Acknowledged> {
        let mut told = Vec::new();
        let create = ["canister", "snapshot", "create", &canister, "--json"];
        let Some(out) = net.ok_unless_killed(&create, &killed) else {
            return told;
        };
        told.push(Acknowledged::Created(snapshot_id(&out)));
        let upload = [
            "canister",
            "snapshot",
            "upload",
            &canister,
            "-i",
            &source_dir,
            "--json",
        ];
        let Some(out) = net.ok_unless_killed(&upload, &killed) else {
            return told;
        };
        told.push(Acknowledged::Uploaded(snapshot_id(&out)));
        let install = [
            "canister", "install", &canister, "--mode", "upgrade", "--wasm", wasm, "--yes",
        ];
        if net.ok_unless_killed(&install, &killed).is_some() {
            told.push(Acknowledged::Installed(sha256_hex(
                &std::fs::read(wasm).unwrap(),
            )));
        }
        told
    };
    // An uninterrupted trial: how long one takes.
    let began = std::time::Instant::now();
    let told = trial(&net, &wasms[0]);
    assert_eq!(told.len(), 3, "{told:?}");
    let duration = began.elapsed();
    let mut installed = hashes[0].clone();
    let mut state = 0x5EED_0026_u64;
    // Moments spread over a run.
    const ROUNDS: u32 = 8;
    for round in 0..ROUNDS {
        for id in net.snapshots() {
            net.ok(&["canister", "snapshot", "delete", &canister, &id]);
        }
        // The other module than the one installed.
        let wasm = &wasms[usize::from(installed == hashes[0])];
        killed.store(false, Ordering::SeqCst);
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let jitter = ((state >> 33) % 1000) as f64 / 1000.0;
        // Over a quarter more than a run took (some rounds end untouched),
        // denser early: the snapshot's creation is the quickest step.
        let share = (f64::from(round) + jitter) / f64::from(ROUNDS);
        let delay = duration.mul_f64(1.25 * share * share);
        let pid = net.served().pid();
        let told = std::thread::scope(|scope| {
            let killer = scope.spawn(|| {
                std::thread::sleep(delay);
                let _ = std::process::Command::new("kill")
                    .args(["-9", &pid.to_string()])
                    .status();
                killed.store(true, Ordering::SeqCst);
            });
            let told = trial(&net, wasm);
            killer.join().unwrap();
            told
        });
        net.restart(true);
        let listed = net.snapshots();
        for acknowledged in &told {
            match acknowledged {
                Acknowledged::Created(id) | Acknowledged::Uploaded(id) => {
                    assert!(listed.contains(id), "round {round}: {id} lost: {listed:?}");
                    let dir = net.offline.path(&format!("check-{round}-{id}"));
                    let dir = dir.to_str().unwrap();
                    net.ok(&["canister", "snapshot", "download", &canister, id, "-o", dir]);
                    let stable = std::fs::read(Path::new(dir).join("stable_memory.bin")).unwrap();
                    assert!(
                        stable == source_stable,
                        "round {round}: {id}'s stable memory"
                    );
                }
                Acknowledged::Installed(hash) => installed = hash.clone(),
            }
        }
        let now = status_of(&net)["module_hash"]
            .as_str()
            .unwrap()
            .trim_start_matches("0x")
            .to_string();
        let cut_short = sha256_hex(&std::fs::read(wasm).unwrap());
        assert!(
            now == installed || (now == cut_short && told.len() == 2),
            "round {round} ({told:?}): the module is {now}, not {installed}"
        );
        installed = now;
        eprintln!(
            "round {round}: killed after {delay:?}, {} acknowledged",
            told.len()
        );
    }
}

/// Every line of the README's consistent-cut recipe runs, as written, with
/// the real icp-cli against serve and ic-backup on the downloaded folder:
/// the project's names replaced by the served canister and the files of
/// the test; at the end the repaired profile is live.
#[test]
fn the_readme_snapshot_recipe_runs() {
    let net = Net::start();
    let canister = net.canister();
    net.set_profile("ada");
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    let block = readme
        .split("```sh\n")
        .skip(1)
        .map(|rest| rest.split("```").next().unwrap())
        .find(|block| block.contains("icp canister snapshot create"))
        .expect("the README's snapshot recipe");
    let wasm = net.offline.wasm.to_str().unwrap().to_string();
    let (mut created, mut uploaded) = (String::new(), String::new());
    let mut ran = 0;
    for line in block.lines() {
        let line = line.split(" # ").next().unwrap().trim();
        if line.is_empty() {
            continue;
        }
        let words: Vec<String> = line
            .split_whitespace()
            .map(|word| match word {
                "backend" => canister.clone(),
                "backend.wasm" => wasm.clone(),
                "<snapshot-id>" => created.clone(),
                "<new-snapshot-id>" => uploaded.clone(),
                other => other.to_string(),
            })
            .collect();
        let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
        let out = match words[0].as_str() {
            "icp" => {
                let out = net.ok(&args);
                if line.contains("snapshot create") {
                    created = hex_word(&out);
                }
                if line.contains("snapshot upload") {
                    uploaded = hex_word(&out);
                }
                out
            }
            "ic-backup" => {
                if line.contains("repaired.json") {
                    // The repair: the profile's name changed in the backup.
                    let backup =
                        std::fs::read_to_string(net.offline.path("profiles.json")).unwrap();
                    std::fs::write(
                        net.offline.path("repaired.json"),
                        backup.replace("\"ada\"", "\"cyd\""),
                    )
                    .unwrap();
                }
                ok_output(
                    std::process::Command::new(env!("CARGO_BIN_EXE_ic-backup"))
                        .current_dir(net.offline.dir.path())
                        .args(&args)
                        .output()
                        .unwrap(),
                    line,
                )
            }
            other => panic!("the recipe runs icp and ic-backup, not {other}: {line}"),
        };
        drop(out);
        ran += 1;
    }
    assert_eq!(ran, 11, "the recipe's lines");
    let get = ["canister", "call", &canister, "get_profile", "()"];
    assert!(net.ok(&get).contains("\"cyd\""), "{}", net.ok(&get));
}

/// `uninstall_code` (signed with a controller's key: icp-cli has no command
/// for it) leaves a canister that answers nothing, also after a SIGKILL of
/// the server (the image opens as the empty canister, not with `--wasm`);
/// `icp canister install --mode install` puts code back, on empty memory,
/// and it stays through a restart.
#[test]
fn an_uninstalled_canister_stays_empty_until_installed() {
    use common::serving::{call_outcome, call_path, now_nanos, post, signed, Key};
    let mut net = Net::start();
    let canister = net.canister();
    net.set_profile("ada");
    let key = Key::new(26);
    let principal = key.principal().to_text();
    net.ok(&[
        "canister",
        "settings",
        "update",
        &canister,
        "--add-controller",
        &principal,
    ]);
    let id = candid::Principal::from_text(&canister).unwrap();
    let content = ic_transport_types::EnvelopeContent::Call {
        nonce: Some(b"uninstall".to_vec()),
        ingress_expiry: now_nanos() + 120_000_000_000,
        sender: key.principal(),
        canister_id: candid::Principal::management_canister(),
        method_name: "uninstall_code".into(),
        arg: candid_parser::parse_idl_args(&format!(
            "(record {{ canister_id = principal \"{id}\" }})"
        ))
        .unwrap()
        .to_bytes()
        .unwrap(),
        sender_info: None,
    };
    let (status, body) = post(
        &net.served().url,
        &call_path(&canister),
        "application/cbor",
        &signed(content, &key, None, &key),
    );
    assert_eq!(status, 200, "{}", text(&body));
    assert_eq!(call_outcome(&body).0, "replied");
    let count = ["canister", "call", &canister, "profile_count", "()"];
    let empty = |net: &Net, when: &str| {
        let out = net.run("admin", &count);
        assert!(!out.status.success(), "{when}: answered");
        let said = text(&out.stderr);
        assert!(said.contains("no wasm module"), "{when}: {said}");
        assert!(status_of(net)["module_hash"].is_null(), "{when}");
    };
    empty(&net, "uninstalled");
    net.restart(true);
    empty(&net, "after SIGKILL");
    let wasm = net.offline.wasm.to_str().unwrap().to_string();
    net.ok(&[
        "canister", "install", &canister, "--mode", "install", "--wasm", &wasm, "--yes",
    ]);
    assert!(net.ok(&count).contains("(0 : nat64)"), "{}", net.ok(&count));
    net.restart(false);
    assert!(net.ok(&count).contains("(0 : nat64)"), "after a restart");
}

//! The `ic-backup` binary, driven offline over the examples' real wasm in the
//! embedded runner: every command, interruptions and bad files.

use crate::common;

use common::*;
use serde_json::{json, Value};
use std::process::Command;

#[test]
fn backup_damage_restore_compare() {
    let (offline, source) = Offline::with_profiles(500);
    let backup = offline.path("backup.json");
    offline.ok(&[
        "backup",
        "profiles",
        "-o",
        backup.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(entries(&backup).as_array().unwrap().len(), 500);

    // Damage: clear the map, add a stranger.
    offline.ok(&["call", "clear_profiles"]);
    offline.ok(&["call", "set_profile", "(record { username = opt \"intruder\"; email = null; password = null; updated_time_msecs = null })"]);
    assert!(offline.ok(&["call", "profile_count"]).contains("1 : nat64"));

    offline.ok(&[
        "restore",
        "profiles",
        "-i",
        backup.to_str().unwrap(),
        "--replace",
    ]);
    let again = offline.path("again.json");
    offline.ok(&[
        "backup",
        "profiles",
        "-o",
        again.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(
        entries(&again),
        entries(&backup),
        "restored exactly, the intruder gone"
    );
    // The plain JSON file we restored and the one we backed up agree.
    assert_eq!(entries(&backup), entries(&source));
}

/// The article's own files: what its backup.js printed (made by agent-js in
/// `scripts/agent-js/fixtures.mjs`) restores, and `--format agent-js` gives
/// back the same file byte for byte.
#[test]
fn the_article_backup_js_file_restores_and_backs_up_byte_for_byte() {
    let offline = Offline::new("profiles");
    let article = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/agent-js/profiles.json");
    offline.ok(&["restore", "profiles", "-i", article.to_str().unwrap()]);
    assert!(offline
        .ok(&["call", "profile_count"])
        .contains("40 : nat64"));
    let ours = offline.path("ours.json");
    offline.ok(&[
        "backup",
        "profiles",
        "-o",
        ours.to_str().unwrap(),
        "--format",
        "agent-js",
        "--max-bytes",
        "2000",
    ]);
    assert_eq!(
        std::fs::read(&ours).unwrap(),
        std::fs::read(&article).unwrap(),
        "backup --format agent-js writes what backup.js wrote"
    );
    // The same file told as plain JSON is refused, naming what it found.
    let error = offline.fails(
        &[
            "restore",
            "profiles",
            "-i",
            article.to_str().unwrap(),
            "--format",
            "json",
        ],
        2,
    );
    assert!(error.contains("expected text, found [\"user"), "{error}");
}

#[test]
fn lossless_round_trip_of_every_type() {
    let offline = Offline::new("ledger");
    for (owner, kind) in [
        (1, "variant { Checking }"),
        (
            2,
            "variant { Savings = record { rate_basis_points = 150 : nat16 } }",
        ),
        (3, "variant { Frozen = record { reason = \"audit\" } }"),
    ] {
        let args = format!("(principal \"{}\", {kind}, opt record {{ daily = 9_007_199_254_740_993 : nat64; monthly = null }})", principal(owner));
        offline.ok(&["call", "open_account", &args]);
        offline.ok(&[
            "call",
            "deposit",
            &format!("({owner} : nat64, 18_446_744_073_709_551_000 : nat64)"),
        ]);
    }
    offline.ok(&[
        "call",
        "put_document",
        "(\"doc\", \"application/octet-stream\", blob \"\\00\\ff\\10\")",
    ]);
    // Every map, read from the image's bytes (keys: nat64, text, principal,
    // nat64 as text; values: Candid records, nat64, text), is byte for byte
    // what the canister's own pages give.
    let mut read_natively = Vec::new();
    offline.ok(&[
        "call",
        "restore_nicknames",
        "(vec { record { \"1\"; \"alice\" }; record { \"3\"; \"carol\" } })",
    ]);
    offline.ok(&["call", "transfer", "(1 : nat64, 2 : nat64, 7 : nat64)"]);
    for map in ["accounts", "transfers", "documents", "owners", "nicknames"] {
        let (native, paged) = (
            offline.path(&format!("{map}-native.json")),
            offline.path(&format!("{map}-paged.json")),
        );
        let report = offline.ok(&["--json", "backup", map, "-o", native.to_str().unwrap()]);
        offline.ok(&[
            "backup",
            map,
            "-o",
            paged.to_str().unwrap(),
            "--through-wasm",
        ]);
        assert!(
            std::fs::read(&native).unwrap() == std::fs::read(&paged).unwrap(),
            "{map}: read natively and through the wasm"
        );
        if report.contains("\"read\":\"image\"") {
            read_natively.push(map);
        }
    }
    assert_eq!(
        read_natively,
        ["accounts", "transfers", "documents", "owners", "nicknames"],
        "every map is read natively"
    );
    for map in ["accounts", "documents", "owners"] {
        let file = offline.path(&format!("{map}.json"));
        offline.ok(&["backup", map, "-o", file.to_str().unwrap()]);
        let text = std::fs::read_to_string(&file).unwrap();
        if map == "accounts" {
            assert!(
                text.contains("\"18446744073709551000\""),
                "nat64 above 2^53 kept as text: {text}"
            );
            assert!(text.contains("\"9007199254740993\""), "{text}");
        }
        if map == "documents" {
            assert!(text.contains("\"00ff10\""), "blob as hex: {text}");
        }
        offline.ok(&["call", &format!("clear_{map}")]);
        offline.ok(&["restore", map, "-i", file.to_str().unwrap()]);
        let again = offline.path(&format!("{map}-again.json"));
        offline.ok(&["backup", map, "-o", again.to_str().unwrap()]);
        assert_eq!(entries(&again), entries(&file), "{map} round trip");
    }
}

/// Backed up one query at a time or cut into spans, whole or interrupted and
/// resumed (with another `--parallel`, or after a span's partial file was
/// damaged), the file is the same, byte for byte. The canister's pages
/// (`--through-wasm`) first; then the map read from the image's bytes (the
/// offline default), whole and interrupted, resumed either way.
#[test]
fn an_interrupted_backup_resumes_without_loss_or_duplication() {
    let (offline, _) = Offline::with_profiles(300);
    let backup = |file: &std::path::Path, more: &[&str]| {
        let mut args = vec!["backup", "profiles", "-o", file.to_str().unwrap()];
        args.extend(["--max-bytes", "4000", "--through-wasm"]);
        args.extend(more);
        args.into_iter()
            .map(str::to_string)
            .collect::<Vec<String>>()
    };
    let run = |args: Vec<String>| offline.ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let stop =
        |args: Vec<String>| offline.fails(&args.iter().map(String::as_str).collect::<Vec<_>>(), 1);
    let whole = offline.path("whole.json");
    run(backup(&whole, &["--parallel", "1"]));
    let whole = std::fs::read(&whole).unwrap();
    let spans = offline.path("spans.json");
    run(backup(&spans, &["--parallel", "3"]));
    assert!(
        std::fs::read(&spans).unwrap() == whole,
        "spans give the same file"
    );

    let resumed = offline.path("resumed.json");
    let error = stop(backup(&resumed, &["--parallel", "3", "--stop-after", "3"]));
    assert!(error.contains("run the same command again"), "{error}");
    assert!(!resumed.exists());
    // 12 spans of 25 entries, each in its own partial file.
    assert!(offline.path("resumed.json.partial.11").exists());
    assert!(!offline.path("resumed.json.partial.12").exists());
    stop(backup(&resumed, &["--parallel", "2", "--stop-after", "7"]));
    run(backup(&resumed, &[]));
    assert!(std::fs::read(&resumed).unwrap() == whole);
    let gone = |name: &str| {
        !offline.path(&format!("{name}.partial")).exists()
            && !offline.path(&format!("{name}.partial.1")).exists()
            && !offline.path(&format!("{name}.progress")).exists()
    };
    assert!(gone("resumed.json"));

    // A span's partial file changed under the resume: all start over.
    let damaged = offline.path("damaged.json");
    stop(backup(&damaged, &["--parallel", "3", "--stop-after", "20"]));
    let span = offline.path("damaged.json.partial.1");
    let mut bytes = std::fs::read(&span).unwrap();
    assert!(!bytes.is_empty());
    bytes[0] ^= 1;
    std::fs::write(&span, bytes).unwrap();
    let args = backup(&damaged, &["--parallel", "3"]);
    let out = offline.run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("differs from what was recorded; starting over"),
        "{stderr}"
    );
    assert!(std::fs::read(&damaged).unwrap() == whole);
    assert!(gone("damaged.json"));

    // One query at a time, interrupted and resumed.
    let single = offline.path("single.json");
    stop(backup(&single, &["--parallel", "1", "--stop-after", "2"]));
    assert!(!offline.path("single.json.partial.1").exists());
    run(backup(&single, &["--parallel", "1"]));
    assert!(std::fs::read(&single).unwrap() == whole);

    // Read from the image's bytes: the same file, whole; and interrupted
    // mid-span (batches of 4000 bytes of lines), resumed through the
    // canister's pages, interrupted again, and finished natively.
    let native = |file: &std::path::Path, more: &[&str]| {
        let mut args = vec!["backup", "profiles", "-o", file.to_str().unwrap()];
        args.extend(["--max-bytes", "4000"]);
        args.extend(more);
        args.into_iter()
            .map(str::to_string)
            .collect::<Vec<String>>()
    };
    let direct = offline.path("direct.json");
    let out = offline.run(
        &native(&direct, &[])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stderr.contains("read through the canister's wasm"),
        "{stderr}"
    );
    assert!(std::fs::read(&direct).unwrap() == whole, "read natively");
    let mixed = offline.path("mixed.json");
    stop(native(&mixed, &["--stop-after", "5"]));
    let recorded = std::fs::read_to_string(offline.path("mixed.json.progress")).unwrap();
    assert!(recorded.contains("\"done\": false"), "{recorded}");
    stop(backup(&mixed, &["--stop-after", "4"]));
    stop(native(&mixed, &["--stop-after", "3"]));
    run(native(&mixed, &[]));
    assert!(
        std::fs::read(&mixed).unwrap() == whole,
        "resumed either way"
    );
    assert!(gone("mixed.json"));
}

/// A value stored with another Candid header than the map's others (here
/// by an older version of the type, with a field since removed, which the
/// canister still reads): the native reader stops there and says so, the
/// canister's pages go on from there, and the file is byte for byte the
/// one read wholly through the canister.
#[test]
fn a_value_the_native_reader_cannot_read_exactly_goes_through_the_canister() {
    use backup_runtime::prelude::*;
    let offline = Offline::new("profiles");
    let image = offline.image.clone();
    std::thread::spawn(move || {
        #[derive(candid::CandidType)]
        struct Older {
            username: Option<String>,
            legacy_score: u32,
        }
        let user = |n: u8| Principal::from_slice(&[n; 29]);
        profiles::PROFILES.with(|map| {
            for n in 1..=200 {
                let profile = profiles::Profile {
                    username: Some(format!("user{n}")),
                    ..Default::default()
                };
                map.borrow_mut().insert(user(n), profile);
            }
        });
        let mut raw: StableBTreeMap<Principal, Vec<u8>, Memory> =
            StableBTreeMap::init(backup_runtime::memory(MemoryId::new(0)));
        let older = Older {
            username: Some("old-timer".into()),
            legacy_score: 7,
        };
        raw.insert(user(150), candid::encode_one(&older).unwrap());
        profiles::Stable::save_image(&image).unwrap();
    })
    .join()
    .unwrap();
    let (native, paged) = (offline.path("native.json"), offline.path("paged.json"));
    let out = offline.run(&[
        "backup",
        "profiles",
        "-o",
        native.to_str().unwrap(),
        "--max-bytes",
        "2000",
    ]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("read from the image, then through the canister"),
        "{stdout}"
    );
    assert!(
        stderr.contains("is read through the canister's wasm from here on")
            && stderr.contains("not Candid of the map's usual header"),
        "{stderr}"
    );
    offline.ok(&[
        "backup",
        "profiles",
        "-o",
        paged.to_str().unwrap(),
        "--through-wasm",
    ]);
    let file = std::fs::read_to_string(&native).unwrap();
    assert!(file == std::fs::read_to_string(&paged).unwrap());
    assert!(
        file.contains("\"user1\"") && file.contains("\"user200\""),
        "{file}"
    );
    assert!(file.contains("old-timer"), "{file}");
}

/// A canister built before spans (its pages take no `until`, it has no
/// `backup_<map>_splits`) is backed up one page at a time, saying so, into
/// the same file.
#[test]
fn a_canister_without_spans_is_backed_up_one_page_at_a_time() {
    let (offline, _) = Offline::with_profiles(120);
    let did = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/profiles/profiles.did"),
    )
    .unwrap();
    let old: String = did
        .lines()
        .filter(|line| !line.contains("backup_profiles_splits"))
        .map(|line| line.replace("(opt text, opt nat64, opt text)", "(opt text, opt nat64)"))
        .map(|line| format!("{line}\n"))
        .collect();
    assert!(old.contains("backup_profiles_page : (opt text, opt nat64) -> (BackupPage) query;"));
    let old_did = offline.path("old.did");
    std::fs::write(&old_did, old).unwrap();
    let (whole, before) = (offline.path("whole.json"), offline.path("before.json"));
    let args = |file: &std::path::Path| {
        vec![
            "backup",
            "profiles",
            "-o",
            file.to_str().unwrap(),
            "--max-bytes",
            "3000",
            "--parallel",
            "4",
            "--through-wasm",
        ]
        .into_iter()
        .map(str::to_string)
        .collect::<Vec<_>>()
    };
    offline.ok(&args(&whole).iter().map(String::as_str).collect::<Vec<_>>());
    let mut old_args = args(&before);
    old_args.extend(["--did".to_string(), old_did.to_str().unwrap().to_string()]);
    let out = offline.run(&old_args.iter().map(String::as_str).collect::<Vec<_>>());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("built before parallel backups"), "{stderr}");
    assert!(std::fs::read(&before).unwrap() == std::fs::read(&whole).unwrap());
    // Read natively, such a canister's map is one span (its pages could not
    // take a span over at a key): the same file.
    let native = offline.path("native.json");
    offline.ok(&[
        "backup",
        "profiles",
        "-o",
        native.to_str().unwrap(),
        "--did",
        old_did.to_str().unwrap(),
    ]);
    assert!(std::fs::read(&native).unwrap() == std::fs::read(&whole).unwrap());
}

#[test]
fn an_interrupted_restore_resumes_without_loss_or_duplication() {
    let offline = Offline::new("profiles");
    let source = offline.path("source.json");
    // Large enough for several 2 MiB batches.
    let entries_in: Vec<Value> = (0..40)
        .map(|i| json!([principal(i), { "username": "u".repeat(200_000), "email": null, "password": null, "updated_time_msecs": null }]))
        .collect();
    std::fs::write(&source, serde_json::to_vec(&entries_in).unwrap()).unwrap();
    let error = offline.fails(
        &[
            "restore",
            "profiles",
            "-i",
            source.to_str().unwrap(),
            "--stop-after",
            "1",
        ],
        1,
    );
    assert!(error.contains("run the same command again"), "{error}");
    let count = offline.profile_count_on(&offline.image);
    assert!(count > 0 && count < 40, "one batch went in: {count}");
    let done = offline.ok(&[
        "--json",
        "restore",
        "profiles",
        "-i",
        source.to_str().unwrap(),
    ]);
    let report: Value = serde_json::from_str(done.trim()).unwrap();
    assert_eq!(report["entries"], 40);
    assert!(offline
        .ok(&["call", "profile_count"])
        .contains("(40 : nat64)"));
}

#[test]
fn a_file_of_the_wrong_types_is_refused_before_anything_is_sent() {
    let (offline, source) = Offline::with_profiles(10);
    let before = std::fs::read(&offline.image).unwrap();
    let bad = offline.path("bad.json");
    let cases = [
        (
            json!([[principal(1), { "username": 42 }]]),
            "entry 0[1].username",
        ),
        (
            json!([[principal(1), { "nickname": "x" }]]),
            "fields the map's types lack: `nickname` (1 value, the first at entry 0[1])",
        ),
        (json!({ "rows": [] }), "expected a backup"),
    ];
    for (document, expected) in cases {
        std::fs::write(&bad, serde_json::to_vec(&document).unwrap()).unwrap();
        let error = offline.fails(
            &[
                "restore",
                "profiles",
                "-i",
                bad.to_str().unwrap(),
                "--replace",
            ],
            2,
        );
        assert!(error.contains(expected), "`{expected}` not in {error}");
        assert_eq!(
            std::fs::read(&offline.image).unwrap(),
            before,
            "the image changed"
        );
    }
    // A key whose text only the canister can check: refused by the canister
    // in the first pass, before --replace clears anything.
    std::fs::write(
        &bad,
        serde_json::to_vec(&json!([["not a principal", {}]])).unwrap(),
    )
    .unwrap();
    let error = offline.fails(
        &[
            "restore",
            "profiles",
            "-i",
            bad.to_str().unwrap(),
            "--replace",
        ],
        1,
    );
    assert!(
        error.contains("expected a principal") && error.contains("nothing was restored"),
        "{error}"
    );
    assert!(!error.contains("cleared"), "{error}");
    assert_eq!(
        std::fs::read(&offline.image).unwrap(),
        before,
        "the map was not cleared"
    );
    let error = offline.fails(&["restore", "nosuchmap", "-i", source.to_str().unwrap()], 2);
    assert!(
        error.contains("no map `nosuchmap`") && error.contains("profiles"),
        "{error}"
    );
}

#[test]
fn dump_edit_load_verify_and_read_the_repair() {
    let (offline, _) = Offline::with_profiles(200);
    offline.ok(&[
        "call",
        "stable_authorize",
        &format!("(principal \"{}\")", principal(999)),
    ]);

    let dump = offline.path("dump.dat");
    offline.fails(
        &[
            "dump",
            "-o",
            dump.to_str().unwrap(),
            "--chunk-bytes",
            "65536",
            "--parallel",
            "4",
            "--stop-after",
            "5",
        ],
        1,
    );
    offline.ok(&[
        "dump",
        "-o",
        dump.to_str().unwrap(),
        "--chunk-bytes",
        "65536",
        "--parallel",
        "4",
    ]);
    assert_eq!(
        std::fs::read(&dump).unwrap(),
        std::fs::read(&offline.image).unwrap(),
        "resumed dump is the image"
    );
    let manifest = offline.path("dump.dat.sha256");
    offline.ok(&["verify", "--manifest", manifest.to_str().unwrap()]);
    // Offline, the digests are hashed natively once the canister has given
    // its first: a caller without raw access is refused all the same.
    let (_, stranger) = serving::write_keys(offline.dir.path());
    let out = offline.run(&[
        "--pem",
        stranger.to_str().unwrap(),
        "--not-controller",
        "verify",
        "--manifest",
        manifest.to_str().unwrap(),
    ]);
    let refused = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a stranger verified");
    assert!(refused.contains("not authorized"), "{refused}");

    // Edit the dump offline: one profile's username, in place in its bytes.
    let mut bytes = std::fs::read(&dump).unwrap();
    let at = bytes.windows(7).position(|w| w == b"user123").unwrap();
    bytes[at..at + 7].copy_from_slice(b"USER123");
    let edited = offline.path("edited.dat");
    std::fs::write(&edited, &bytes).unwrap();

    let report = offline.ok(&["--json", "load", "-i", edited.to_str().unwrap(), "--yes"]);
    let report: Value = serde_json::from_str(report.trim()).unwrap();
    assert_eq!(report["changed"], 1);
    assert_eq!(report["bytes_sent"], 65536);
    assert_eq!(report["verified"], true);
    // The manifest of the original no longer matches.
    let error = offline.fails(&["verify", "--manifest", manifest.to_str().unwrap()], 3);
    assert!(error.contains("1 of"), "{error}");
    // Every offline run starts the canister afresh over the image: an upgrade.
    let profile = offline.ok(&[
        "call",
        "get_profile_of",
        &format!("(principal \"{}\")", principal(123)),
    ]);
    assert!(profile.contains("USER123"), "{profile}");
}

#[test]
fn inspect_shows_the_layout_and_refuses_other_files() {
    let (offline, source) = Offline::with_profiles(20);
    offline.ok(&["auth", "add", &principal(5)]);
    let text = offline.ok(&["inspect", offline.image.to_str().unwrap()]);
    assert!(text.contains("StableBTreeMap v2, 20 entries"), "{text}");
    let report: Value = serde_json::from_str(
        offline
            .ok(&["--json", "inspect", offline.image.to_str().unwrap()])
            .trim(),
    )
    .unwrap();
    let ids: Vec<u64> = report["memories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, vec![0, 254], "the profiles map and the admin set");

    // Inspect reads the header and the maps' headers, not the image: a
    // 3 GiB image (sparse here) is inspected within 1 GiB of address space.
    let large = offline.path("large.bin");
    std::fs::copy(&offline.image, &large).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&large)
        .unwrap()
        .set_len(3 << 30)
        .unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 1048576 && exec \"$0\" inspect \"$1\"")
        .arg(env!("CARGO_BIN_EXE_ic-backup"))
        .arg(&large)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("3221225472 bytes"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("StableBTreeMap v2, 20 entries"), "{stdout}");

    let error = offline.fails(&["inspect", source.to_str().unwrap()], 2);
    assert!(
        error.contains("not a MemoryManager stable memory image"),
        "{error}"
    );
}

#[test]
fn auth_and_bad_arguments() {
    let offline = Offline::new("profiles");
    offline.ok(&["auth", "add", &principal(1)]);
    assert!(offline.ok(&["auth", "list"]).contains(&principal(1)));
    offline.ok(&["auth", "remove", &principal(1)]);
    let error = offline.fails(&["auth", "add", "not-a-principal"], 2);
    assert!(error.contains("expected a principal"), "{error}");
    let error = offline.fails(&["auth", "add", "2vxsx-fae"], 1);
    assert!(error.contains("anonymous"), "{error}");
    // Not a controller: refused by the canister's guard.
    let error = offline.fails(&["--not-controller", "auth", "list"], 1);
    assert!(error.contains("not authorized"), "{error}");
    let error = offline.fails(&["call", "no_such_method"], 2);
    assert!(error.contains("no method `no_such_method`"), "{error}");
    let error = offline.fails(&["call", "profile_count", "(oops"], 2);
    assert!(error.contains("Candid text"), "{error}");
    // Queries in flight: 1 to 1024 for every command that has them, and a
    // refused count writes nothing.
    let dump = offline.path("refused.dat");
    let backup = offline.path("refused.json");
    for n in ["0", "1025"] {
        let commands: [&[&str]; 2] = [
            &["dump", "-o", dump.to_str().unwrap(), "--parallel", n],
            &[
                "backup",
                "profiles",
                "-o",
                backup.to_str().unwrap(),
                "--parallel",
                n,
            ],
        ];
        for args in commands {
            let error = offline.fails(args, 2);
            assert!(error.contains("1..=1024"), "{args:?}: {error}");
        }
    }
    let left: Vec<_> = std::fs::read_dir(dump.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.starts_with("refused"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn help_explains_with_examples() {
    let out = Command::new(env!("CARGO_BIN_EXE_ic-backup"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(
        help.contains("Examples:") && help.contains("--wasm"),
        "{help}"
    );
    // One short line per command, in groups; the details are in each
    // command's own help.
    let commands: Vec<&str> = help
        .split("Options:")
        .next()
        .unwrap()
        .lines()
        .filter(|line| line.starts_with("  ") && !line.starts_with("   "))
        .collect();
    assert!(commands.len() >= 11, "{help}");
    for line in &commands {
        assert!(line.len() <= 80, "a long summary: {line}");
    }
    for group in ["Typed data:", "Raw stable memory:", "Access:"] {
        assert!(help.contains(group), "{help}");
    }
    for command in [
        "backup", "restore", "dump", "load", "inspect", "verify", "call", "auth", "snapshot",
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_ic-backup"))
            .args([command, "--help"])
            .output()
            .unwrap();
        let help = String::from_utf8(out.stdout).unwrap();
        assert!(
            help.contains("Example"),
            "{command} --help has no example:\n{help}"
        );
    }
    let out = Command::new(env!("CARGO_BIN_EXE_ic-backup"))
        .args(["auth", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected --canister"));
}

/// A strict fixture canister holding under key 1 a list of `len` kept as
/// nested options, and its `lists` map backed up in every format.
fn lists_backed_up(len: u32) -> (Offline, Vec<(&'static str, std::path::PathBuf)>) {
    let source = Offline::new("strict_fixture");
    source.ok(&["call", "put_list", &format!("(1 : nat64, {len} : nat64)")]);
    let files = ["lossless", "agent-js", "json"].map(|format| {
        let file = source.path(&format!("lists-{format}.json"));
        source.ok(&[
            "backup",
            "lists",
            "-o",
            file.to_str().unwrap(),
            "--format",
            format,
        ]);
        (format, file)
    });
    (source, files.to_vec())
}

/// A value nested thousands of levels deep (a list of 2,000 kept as nested
/// options) is backed up and restored in every format: no depth limit on
/// the client below what the canister itself reads.
#[test]
fn deep_values_are_kept_in_every_format() {
    let (_source, files) = lists_backed_up(2000);
    for (format, file) in files {
        let restored = Offline::new("strict_fixture");
        restored.ok(&["restore", "lists", "-i", file.to_str().unwrap()]);
        let len = restored.ok(&["call", "list_len", "(1 : nat64)"]);
        assert!(len.contains("opt (2_000 : nat64)"), "{format}: {len}");
    }
}

/// A value deeper than the canister's own code can read (a list of 5,000
/// levels: its encoder writes it, its decoder runs out of the 1 MiB wasm
/// stack Rust gives a canister) is backed up from its stored bytes, in every
/// form; restoring it is refused by the canister's check, saying why, and
/// with `--replace` nothing is cleared: the image is byte for byte the same.
#[test]
fn a_value_deeper_than_the_canister_reads_is_backed_up_and_its_restore_refused() {
    let (source, files) = lists_backed_up(5000);
    let read = source.run(&["call", "list_len", "(1 : nat64)"]);
    assert!(!read.status.success(), "the canister reads its own value");
    for (format, file) in files {
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(text.matches("\"head\"").count(), 5000, "{format}");
        let target = Offline::new("strict_fixture");
        target.ok(&["call", "put_list", "(2 : nat64, 3 : nat64)"]);
        let before = std::fs::read(&target.image).unwrap();
        let error = target.fails(
            &[
                "restore",
                "lists",
                "-i",
                file.to_str().unwrap(),
                "--replace",
            ],
            1,
        );
        assert!(error.contains("ran out of stack"), "{format}: {error}");
        assert!(error.contains("nothing was written"), "{format}: {error}");
        assert_eq!(std::fs::read(&target.image).unwrap(), before, "{format}");
        let len = target.ok(&["call", "list_len", "(2 : nat64)"]);
        assert!(len.contains("opt (3 : nat64)"), "{format}: {len}");
    }
}

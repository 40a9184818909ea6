//! The article's canister adopted: an image written by a canister on
//! ic-stable-structures 0.5 (`tests/fixtures/v1-canister`, its profiles map
//! in the V1 layout with values bounded to 256 bytes), opened by the
//! profiles example, which uses the derive on ic-stable-structures 0.7.

use crate::common;

use common::*;
use std::path::Path;
use std::process::Output;

/// A key file for calls made as a principal of its own.
const PEM: &str = "-----BEGIN PRIVATE KEY-----\nMFMCAQEwBQYDK2VwBCIEIB5Ku8gKo4FiQy0BmL5wfXbyMyEUI9UdShH7MvjcPpTyoSMDIQDyEn9V8EOHBqRRkvbt2TfBfMxr8Q1NZ0PE4aBv6G0rUw==\n-----END PRIVATE KEY-----\n";

struct Adopted {
    offline: Offline,
    old_wasm: std::path::PathBuf,
}

impl Adopted {
    /// The old canister's image with `n` profiles, the last near its bound;
    /// three more keys sort after every other principal.
    fn new(n: u32) -> Self {
        let adopted = Adopted {
            offline: Offline::new("profiles"),
            old_wasm: wasm("v1_fixture"),
        };
        for i in 0..n {
            let password = if i == n - 1 {
                "p".repeat(190)
            } else {
                format!("pw{i}")
            };
            adopted.old_ok(&[
                "call",
                "put",
                &format!(
                    "(principal \"{}\", {})",
                    principal(i),
                    profile(&format!("user{i}"), &password)
                ),
            ]);
        }
        for byte in [250u8, 251, 252] {
            let late = candid::Principal::from_slice(&[byte; 29]).to_text();
            adopted.old_ok(&[
                "call",
                "put",
                &format!("(principal \"{late}\", {})", profile("late", "")),
            ]);
        }
        adopted
    }

    fn old(&self, args: &[&str]) -> Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_ic-backup"))
            .arg("--wasm")
            .arg(&self.old_wasm)
            .arg("--image")
            .arg(&self.offline.image)
            .args(args)
            .output()
            .unwrap()
    }

    fn old_ok(&self, args: &[&str]) -> String {
        let out = self.old(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn image(&self) -> Vec<u8> {
        std::fs::read(&self.offline.image).unwrap()
    }

    fn inspect(&self) -> String {
        self.offline
            .ok(&["inspect", self.offline.image.to_str().unwrap()])
    }
}

fn profile(username: &str, password: &str) -> String {
    format!("record {{ username = opt \"{username}\"; email = null; password = opt \"{password}\"; updated_time_msecs = opt (7 : nat64) }}")
}

/// A backup file holding one profile whose Candid value is 340 bytes or more.
fn oversized(path: &Path, key: &str) {
    let entry = serde_json::json!([[key, { "username": ["big"], "email": [], "password": ["x".repeat(300)], "updated_time_msecs": [] }]]);
    std::fs::write(path, entry.to_string()).unwrap();
}

#[test]
fn the_article_image_reads_the_same_and_refuses_what_would_corrupt_it() {
    let adopted = Adopted::new(40);
    let offline = &adopted.offline;
    // The old canister's own backup and the adopting canister's are equal.
    let old_backup = adopted.old_ok(&["call", "backup"]);
    assert!(old_backup.contains(&"p".repeat(190)));
    assert_eq!(
        offline.ok(&["call", "backup_profiles", "(0, 1000)"]),
        old_backup
    );

    // A typed backup restores exactly (values within the slots).
    let backup = offline.path("profiles.json");
    offline.ok(&["backup", "profiles", "-o", backup.to_str().unwrap()]);
    offline.ok(&["restore", "profiles", "-i", backup.to_str().unwrap()]);
    assert_eq!(
        offline.ok(&["call", "backup_profiles", "(0, 1000)"]),
        old_backup
    );

    // inspect names the V1 map, its slots and the way out.
    let inspect = adopted.inspect();
    assert!(
        inspect.contains(
            "StableBTreeMap v1, 43 entries; V1 slots: keys up to 32 bytes, values up to 256"
        ),
        "{inspect}"
    );
    assert!(inspect.contains("ic-backup migrate <map>"), "{inspect}");

    // A value larger than the slot is refused, by restore and by validate,
    // and nothing changes, byte for byte.
    let before = adopted.image();
    let big = offline.path("big.json");
    oversized(&big, &principal(3));
    let error = offline.fails(&["restore", "profiles", "-i", big.to_str().unwrap()], 1);
    assert!(
        error.contains("the V1 layout") && error.contains("at most 256 bytes"),
        "{error}"
    );
    assert!(error.contains("ic-backup migrate"), "{error}");
    let reply = offline.ok(&[
        "call",
        "validate_profiles",
        &format!(
            "(vec {{ record {{ \"{}\"; {} }} }})",
            principal(3),
            profile("big", &"x".repeat(300))
        ),
    ]);
    assert!(
        reply.contains("Err") && reply.contains("V1 layout"),
        "{reply}"
    );
    assert_eq!(adopted.image(), before, "the image is unchanged");
}

/// Why the refusal matters: the canister's own update (not ours) writing a
/// value larger than its slot at an existing key corrupts the map under
/// ic-stable-structures 0.7, and the next page traps.
#[test]
fn a_larger_value_written_by_the_canister_itself_corrupts_a_v1_map() {
    let adopted = Adopted::new(5);
    let offline = &adopted.offline;
    let pem = offline.path("caller.pem");
    std::fs::write(&pem, PEM).unwrap();
    let pem = pem.to_str().unwrap();
    let caller = offline.ok(&["--pem", pem, "whoami"]);
    adopted.old_ok(&[
        "call",
        "put",
        &format!(
            "(principal \"{}\", {})",
            caller.trim(),
            profile("small", "")
        ),
    ]);
    offline.ok(&[
        "--pem",
        pem,
        "call",
        "set_profile",
        &format!("({})", profile("big", &"y".repeat(340))),
    ]);
    let error = offline.fails(
        &[
            "backup",
            "profiles",
            "-o",
            offline.path("x.json").to_str().unwrap(),
        ],
        1,
    );
    assert!(
        error.contains("stable memory holds a valid Profile"),
        "{error}"
    );
}

#[test]
fn migrate_rewrites_the_map_in_the_current_layout_verified_and_resumable() {
    let adopted = Adopted::new(40);
    let offline = &adopted.offline;
    let before = offline.ok(&["call", "backup_profiles", "(0, 1000)"]);
    let via = offline.path("before.json");
    let via = via.to_str().unwrap();

    // Interrupted after the backup, then after the rewrite: each run
    // continues where the last one stopped.
    let error = offline.fails(
        &["migrate", "profiles", "--via", via, "--stop-after", "1"],
        1,
    );
    assert!(error.contains("stopped after step 1"), "{error}");
    // A migration state belongs to its canister: another image is refused.
    let other = Offline::new("profiles");
    let error = other.fails(&["migrate", "profiles", "--via", via], 2);
    assert!(
        error.contains("was written for another run") && error.contains("--replace"),
        "{error}"
    );
    let error = offline.fails(
        &["migrate", "profiles", "--via", via, "--stop-after", "2"],
        1,
    );
    assert!(error.contains("stopped after step 2"), "{error}");
    let done = offline.ok(&["migrate", "profiles", "--via", via]);
    assert!(
        done.contains("rewritten in the current layout: 43 entries"),
        "{done}"
    );
    assert!(
        !Path::new(&format!("{via}.migrate")).exists(),
        "no state left"
    );

    assert_eq!(
        offline.ok(&["call", "backup_profiles", "(0, 1000)"]),
        before
    );
    let inspect = adopted.inspect();
    assert!(
        inspect.contains("   0  ") && inspect.contains("StableBTreeMap v2, 43 entries"),
        "{inspect}"
    );

    // The bound is gone: the larger value restores and reads back whole.
    let big = offline.path("big.json");
    oversized(&big, &principal(3));
    offline.ok(&["restore", "profiles", "-i", big.to_str().unwrap()]);
    let after = offline.path("after.json");
    offline.ok(&["backup", "profiles", "-o", after.to_str().unwrap()]);
    let text = std::fs::read_to_string(&after).unwrap();
    assert!(
        text.contains(&"x".repeat(300)),
        "the large value reads back"
    );
    assert_eq!(entries(&after).as_array().unwrap().len(), 43);
}

/// As on the IC, `canister_init` runs as the principal that installs: the
/// article's canister makes its installer the admin.
#[test]
fn the_operator_who_installs_offline_is_the_installer() {
    let adopted = Adopted {
        offline: Offline::new("profiles"),
        old_wasm: wasm("v1_fixture"),
    };
    let pem = adopted.offline.path("operator.pem");
    std::fs::write(&pem, PEM).unwrap();
    let pem = pem.to_str().unwrap();
    let operator = adopted.offline.ok(&["--pem", pem, "whoami"]);
    let admins = adopted.old_ok(&["--pem", pem, "call", "get_authorized"]);
    assert!(admins.contains(operator.trim()), "{admins}");
    assert!(
        !admins.contains("2vxsx-fae"),
        "not the anonymous principal: {admins}"
    );
}

/// The article's `set_profile` asks the management canister's `raw_rand`
/// for a password, reproducibly from `--seed`; its `authorize_controllers`
/// asks `canister_status`, which a canister's controllers and the canister
/// itself may (the interface specification), and adds the controllers.
#[test]
fn the_article_canister_calls_the_management_canister_offline() {
    let adopted = Adopted {
        offline: Offline::new("profiles"),
        old_wasm: wasm("v1_fixture"),
    };
    let set = "(record { username = opt \"ada\"; email = null; password = null; updated_time_msecs = null })";
    let password = |seed: Option<&str>| {
        let mut args = vec!["call", "set_profile", set];
        if let Some(seed) = seed {
            args.splice(0..0, ["--seed", seed]);
        }
        let reply = adopted.old_ok(&args);
        let start = reply.find("password = opt \"").unwrap() + 16;
        reply[start..start + 64].to_string()
    };
    let first = password(Some("7"));
    assert!(first.bytes().all(|b| b.is_ascii_hexdigit()), "{first}");
    assert_eq!(
        password(Some("7")),
        first,
        "the same seed, the same password"
    );
    assert_ne!(password(Some("8")), first);
    assert_ne!(password(None), password(None), "unseeded runs draw anew");

    // The canister may read its own status without controlling itself.
    let operator = adopted.offline.ok(&["whoami"]);
    let added = adopted.old_ok(&["call", "authorize_controllers"]);
    assert!(added.contains(operator.trim()), "{added}");
    let itself = "rrkah-fqaaa-aaaaa-aaaaq-cai";
    let added = adopted.old_ok(&["--controller", itself, "call", "authorize_controllers"]);
    assert!(added.contains(itself), "{added}");
    assert!(adopted.old_ok(&["call", "get_authorized"]).contains(itself));
}

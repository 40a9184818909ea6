//! The IC's management canister (`aaaaa-aa`) as the real icp-cli 1.5 uses it
//! against `ic-backup serve`: every `icp canister` command a controller runs
//! on the served canister, and what others are refused, with the IC's reject
//! codes and messages.

mod common;

use common::serving::Served;
use common::{icp, icp_ok, Offline};
use std::path::PathBuf;

/// A served profiles canister, an icp home with two identities made by
/// `icp identity new` (`admin`, a controller and the default, and
/// `stranger`), and `icp` pointed at the server.
struct Net {
    offline: Offline,
    served: Served,
    home: PathBuf,
    admin: String,
    stranger: String,
}

impl Net {
    fn start() -> Net {
        let offline = Offline::new("profiles");
        let home = offline.path("home");
        std::fs::create_dir_all(&home).unwrap();
        for name in ["admin", "stranger"] {
            icp_ok(&home, &["identity", "new", name, "--storage", "plaintext"]);
        }
        icp_ok(&home, &["identity", "default", "admin"]);
        let principal = |name: &str| {
            icp_ok(&home, &["identity", "principal", "--identity", name])
                .trim()
                .to_string()
        };
        let (admin, stranger) = (principal("admin"), principal("stranger"));
        let served = Served::start(&offline, &offline.image, &["--controller", &admin]);
        Net {
            offline,
            served,
            home,
            admin,
            stranger,
        }
    }

    /// `icp <args> -n <url> -k <root key>`, as `identity`.
    fn run(&self, identity: &str, args: &[&str]) -> std::process::Output {
        icp(&self.home)
            .args(args)
            .args(["-n", &self.served.url, "-k", &self.served.root_key])
            .args(["--identity", identity])
            .output()
            .unwrap()
    }

    /// [`Net::run`] as the admin, which must succeed; its standard output.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run("admin", args);
        assert!(
            out.status.success(),
            "icp {args:?}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `icp canister status` and `icp canister settings show` decode the
/// current `canister_status` record: running, the controllers, the module
/// hash, the canister's version and memory, the default settings. A
/// stranger is refused the status (icp then shows what the state tree
/// certifies to anyone: the controllers and the module hash).
#[test]
fn icp_reads_the_status_and_the_settings() {
    let net = Net::start();
    let canister = net.served.canister.clone();
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
    let out = net.run("stranger", &["canister", "settings", "show", &canister]);
    let said = text(&out.stderr);
    assert!(!out.status.success(), "a stranger read the settings");
    assert!(
        said.contains("Only the controllers of the canister") && said.contains(&net.stranger),
        "{said}"
    );
    net.served.stop();
}

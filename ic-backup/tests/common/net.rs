//! A served profiles canister driven with the real icp-cli 1.5: the
//! identities it makes, its commands against `ic-backup serve`, and
//! ic-backup's own against the same server.

use super::serving::{text, Served};
use super::{icp, icp_ok, Offline};
use std::path::PathBuf;

/// A served profiles canister, an icp home with two identities made by
/// `icp identity new` (`admin`, a controller and the default, and
/// `stranger`), and `icp` pointed at the server.
pub struct Net {
    pub offline: Offline,
    served: Option<Served>,
    pub home: PathBuf,
    pub admin: String,
    pub stranger: String,
}

impl Net {
    pub fn start() -> Net {
        let offline = Offline::new("profiles");
        let home = offline.path("home");
        std::fs::create_dir_all(&home).unwrap();
        for name in ["admin", "stranger"] {
            icp_ok(&home, &["identity", "new", name, "--storage", "plaintext"]);
        }
        // An identity whose key icp-cli keeps encrypted with a password.
        let password = home.join("password");
        std::fs::write(&password, "correct horse battery staple\n").unwrap();
        icp_ok(
            &home,
            &[
                "identity",
                "new",
                "keeper",
                "--storage",
                "password",
                "--storage-password-file",
                password.to_str().unwrap(),
            ],
        );
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
            served: Some(served),
            home,
            admin,
            stranger,
        }
    }

    /// Stops the server (kills it with SIGKILL, if `kill`) and serves the
    /// image again, with the same command line.
    pub fn restart(&mut self, kill: bool) {
        let admin = self.admin.clone();
        self.restart_with(kill, &admin);
    }

    /// [`Net::restart`] with `controller` on the command line.
    pub fn restart_with(&mut self, kill: bool, controller: &str) {
        let served = self.served.take().expect("the server runs");
        if kill {
            served.kill();
        } else {
            served.stop();
        }
        self.served = Some(Served::start(
            &self.offline,
            &self.offline.image,
            &["--controller", controller],
        ));
    }

    pub fn served(&self) -> &Served {
        self.served.as_ref().expect("the server runs")
    }

    /// The served canister's id.
    pub fn canister(&self) -> String {
        self.served().canister.clone()
    }

    /// `icp <args> -n <url> -k <root key>`, as `identity`.
    pub fn run(&self, identity: &str, args: &[&str]) -> std::process::Output {
        icp(&self.home)
            .current_dir(self.offline.dir.path())
            .args(args)
            .args(["-n", &self.served().url, "-k", &self.served().root_key])
            .args(["--identity", identity])
            .output()
            .unwrap()
    }

    /// [`Net::run`] as `keeper`, whose key is encrypted.
    pub fn run_keeper(&self, args: &[&str]) -> std::process::Output {
        let password = self.home.join("password");
        let mut all = args.to_vec();
        all.extend(["--identity-password-file", password.to_str().unwrap()]);
        self.run("keeper", &all)
    }

    /// [`Net::run`] as the admin, which must succeed; its standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        ok_output(self.run("admin", args), &format!("icp {args:?}"))
    }
}

pub fn status_of(net: &Net) -> serde_json::Value {
    serde_json::from_str(&net.ok(&["canister", "status", &net.canister(), "--json"])).unwrap()
}

impl Net {
    /// `ic-backup <args>` against the server as `identity` (from icp's
    /// store), in the test's folder, to run or spawn.
    pub fn ic_backup_command(&self, identity: &str, args: &[&str]) -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_ic-backup"));
        command
            .current_dir(self.offline.dir.path())
            .env("HOME", &self.home)
            .env("ICP_HOME", self.home.join("icp"))
            .args([
                "--network",
                &self.served().url,
                "--canister",
                &self.canister(),
            ])
            .args(["--identity", identity])
            .args(args);
        command
    }

    /// `set_profile` as the admin: its own profile, named `name`.
    pub fn set_profile(&self, name: &str) {
        self.ok(&[
            "canister",
            "call",
            &self.canister(),
            "set_profile",
            &profile_arg(name),
        ]);
    }

    /// [`Net::ic_backup_command`], run.
    pub fn ic_backup(&self, identity: &str, args: &[&str]) -> std::process::Output {
        self.ic_backup_command(identity, args).output().unwrap()
    }

    /// `ic-backup <args>` as the admin, which must succeed; its output.
    pub fn backup_ok(&self, args: &[&str]) -> String {
        ok_output(
            self.ic_backup("admin", args),
            &format!("ic-backup {args:?}"),
        )
    }

    /// The snapshot ids `icp canister snapshot list -q` prints.
    pub fn snapshots(&self) -> Vec<String> {
        let listed = self.ok(&["canister", "snapshot", "list", &self.canister(), "--json"]);
        let json: serde_json::Value = serde_json::from_str(&listed).unwrap();
        json["snapshots"]
            .as_array()
            .unwrap_or_else(|| panic!("no snapshots in {json}"))
            .iter()
            .map(|snapshot| {
                snapshot["snapshot_id"]
                    .as_str()
                    .unwrap_or_else(|| panic!("no id in {json}"))
                    .to_string()
            })
            .collect()
    }
}

pub fn ok_output(out: std::process::Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

impl Net {
    /// `icp <args>` as the admin, killed if the server was killed and it
    /// has not finished soon after (a client may retry for a minute); its
    /// output if it succeeded.
    pub fn ok_unless_killed(
        &self,
        args: &[&str],
        killed: &std::sync::atomic::AtomicBool,
    ) -> Option<String> {
        use std::sync::atomic::Ordering;
        let mut child = icp(&self.home)
            .args(args)
            .args(["-n", &self.served().url, "-k", &self.served().root_key])
            .args(["--identity", "admin"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut since_kill = None;
        loop {
            if child.try_wait().unwrap().is_some() {
                let out = child.wait_with_output().unwrap();
                return out.status.success().then(|| text(&out.stdout));
            }
            if killed.load(Ordering::SeqCst) {
                let since = since_kill.get_or_insert_with(std::time::Instant::now);
                if since.elapsed() > std::time::Duration::from_millis(500) {
                    let _ = child.kill();
                    let _ = child.wait();
                    return None;
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

pub fn snapshot_id(json: &str) -> String {
    let json: serde_json::Value = serde_json::from_str(json).unwrap();
    json["snapshot_id"].as_str().unwrap().to_string()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The first long hexadecimal word of `output`: a snapshot id icp printed.
pub fn hex_word(output: &str) -> String {
    output
        .split(|c: char| !c.is_ascii_alphanumeric())
        .find(|word| word.len() >= 16 && word.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(|| panic!("no snapshot id in {output:?}"))
        .to_string()
}

/// `set_profile`'s argument in Candid text: a profile named `name`.
pub fn profile_arg(name: &str) -> String {
    format!(
        "(record {{ username = opt \"{name}\"; email = null; password = null; updated_time_msecs = null }})"
    )
}

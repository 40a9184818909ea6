//! Backups kept in a restic repository (`--repo`), checked by Debian's
//! `restic` itself: it lists what ic-backup wrote, checks every byte of it
//! and restores the very files a plain dump writes.

use crate::common::{profiles_file, Offline};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A repository (a folder of the test, or a REST server's URL) and its password file.
struct Repository {
    path: PathBuf,
    password: PathBuf,
}

impl Repository {
    /// A new repository created by `ic-backup repo init`.
    fn init(offline: &Offline) -> Repository {
        let repository = Repository {
            path: offline.path("repo"),
            password: offline.path("repo-password"),
        };
        std::fs::write(&repository.password, "correct horse\n").unwrap();
        offline.ok(&[
            "repo",
            "init",
            "--repo",
            repository.location(),
            "--repo-password-file",
            repository.password(),
        ]);
        repository
    }

    fn location(&self) -> &str {
        self.path.to_str().unwrap()
    }

    fn password(&self) -> &str {
        self.password.to_str().unwrap()
    }

    /// `args` followed by this repository's options.
    fn with<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut all = args.to_vec();
        all.extend([
            "--repo",
            self.location(),
            "--repo-password-file",
            self.password(),
        ]);
        all
    }

    /// Debian's restic on this repository.
    fn restic(&self, args: &[&str]) -> Output {
        Command::new("restic")
            .args(["--no-cache", "-r", self.location()])
            .args(args)
            .env("RESTIC_PASSWORD_FILE", &self.password)
            .output()
            .expect("restic runs (scripts/test.sh installs Debian's restic)")
    }

    fn restic_ok(&self, args: &[&str]) -> String {
        let out = self.restic(args);
        assert!(
            out.status.success(),
            "restic {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// restic's restore of snapshot `id` into `to`: the one canister folder in it.
    fn restored(&self, id: &str, to: &Path) -> PathBuf {
        self.restic_ok(&["restore", id, "--target", to.to_str().unwrap()]);
        let mut folders: Vec<PathBuf> = std::fs::read_dir(to)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        assert_eq!(folders.len(), 1, "{folders:?}");
        folders.remove(0)
    }

    /// Every file of the repository, for checking that nothing changed.
    fn files(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut files = Vec::new();
        let mut stack = vec![self.path.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    files.push((path.clone(), std::fs::read(&path).unwrap()));
                }
            }
        }
        files.sort();
        files
    }
}

fn json(text: &str) -> Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|error| panic!("{error}: {text}"))
}

/// A dump into the repository is what a plain dump writes, as restic
/// lists, checks and restores it; a second dump after a change downloads
/// only the changed blocks and restores to the changed image; `load` from
/// the first snapshot puts the canister back.
#[test]
fn dumps_into_a_repository_are_incremental_and_restic_reads_them() {
    let (offline, _) = Offline::with_profiles(3000);
    let repo = Repository::init(&offline);
    let first = json(&offline.ok(&repo.with(&["--json", "dump"])));
    let size = first["bytes"].as_u64().unwrap();
    assert_eq!(first["downloaded"], size, "{first}");
    assert_eq!(first["reused"], 0);
    let first_id = first["snapshot"].as_str().unwrap().to_string();
    offline.ok(&["dump", "-o", offline.path("plain-1.dat").to_str().unwrap()]);

    // restic lists it with its tags, and checks every byte.
    let listed = json(&repo.restic_ok(&["snapshots", "--json", "--tag", "kind=dump"]));
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    let tags: Vec<&str> = listed[0]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    for tag in [
        "ic-backup",
        "kind=dump",
        "canister=stable_memory",
        "network=offline",
        "cut=offline",
    ] {
        assert!(tags.contains(&tag), "{tag} in {tags:?}");
    }
    let wasm = std::fs::read(&offline.wasm).unwrap();
    let module = format!("module={}", crate::common::net::sha256_hex(&wasm));
    assert!(tags.contains(&module.as_str()), "{module} in {tags:?}");
    repo.restic_ok(&["check", "--read-data"]);
    let restored = repo.restored(&first_id, &offline.path("restored-1"));
    assert!(
        std::fs::read(restored.join("stable_memory.dat")).unwrap()
            == std::fs::read(offline.path("plain-1.dat")).unwrap()
    );
    let manifest =
        json(&std::fs::read_to_string(restored.join("stable_memory.dat.sha256")).unwrap());
    let plain = json(&std::fs::read_to_string(offline.path("plain-1.dat.sha256")).unwrap());
    assert_eq!(manifest["sha256"], plain["sha256"]);
    assert_eq!(manifest["blocks"], plain["blocks"]);

    // A change to the map, then the second dump.
    let more = offline.path("more.json");
    profiles_file(&more, 3100);
    offline.ok(&["restore", "profiles", "-i", more.to_str().unwrap()]);
    let second = json(&offline.ok(&repo.with(&["--json", "dump"])));
    let downloaded = second["downloaded"].as_u64().unwrap();
    let reused = second["reused"].as_u64().unwrap();
    assert_eq!(
        downloaded + reused,
        second["bytes"].as_u64().unwrap(),
        "{second}"
    );
    assert!(downloaded > 0 && downloaded * 4 < reused, "{second}");
    assert_eq!(second["previous"], first_id.as_str());
    offline.ok(&["dump", "-o", offline.path("plain-2.dat").to_str().unwrap()]);
    let second_id = second["snapshot"].as_str().unwrap();
    repo.restic_ok(&["check", "--read-data"]);
    let restored = repo.restored(second_id, &offline.path("restored-2"));
    assert!(
        std::fs::read(restored.join("stable_memory.dat")).unwrap()
            == std::fs::read(offline.path("plain-2.dat")).unwrap()
    );

    // The first snapshot loaded back: the canister holds the first image.
    let prefix = &first_id[..8];
    let loaded =
        json(&offline.ok(&repo.with(&["--json", "load", "--repo-snapshot", prefix, "--yes"])));
    assert_eq!(loaded["verified"], true, "{loaded}");
    assert_eq!(offline.profile_count_on(&offline.image), 3000);
}

/// A wrong password, a missing repository and a damaged pack are each
/// said as such, and change nothing: not the repository, not the image.
#[test]
fn a_wrong_password_a_missing_repository_and_a_damaged_pack_are_refused() {
    let (offline, _) = Offline::with_profiles(500);
    let repo = Repository::init(&offline);
    offline.ok(&repo.with(&["dump"]));
    let image = std::fs::read(&offline.image).unwrap();
    let files = repo.files();

    let wrong = offline.path("wrong-password");
    std::fs::write(&wrong, "wrong\n").unwrap();
    let mut args = vec![
        "dump",
        "--repo",
        repo.location(),
        "--repo-password-file",
        wrong.to_str().unwrap(),
    ];
    let said = offline.fails(&args, 2);
    assert!(
        said.contains("the password opens none of the repository's keys"),
        "{said}"
    );
    args[0] = "load";
    let said = offline.fails(&args, 2);
    assert!(said.contains("the password opens none"), "{said}");

    let missing = offline.path("no-repo");
    let said = offline.fails(
        &[
            "dump",
            "--repo",
            missing.to_str().unwrap(),
            "--repo-password-file",
            repo.password(),
        ],
        2,
    );
    assert!(
        said.contains("expected a restic repository, found none"),
        "{said}"
    );
    assert!(!missing.exists());
    assert!(repo.files() == files, "the repository changed");
    offline.assert_image_unchanged(&image);

    // The data pack damaged (a byte in every KiB): restic's check finds
    // it, and a load from it is refused before anything is written.
    let (pack, _) = files
        .iter()
        .filter(|(path, _)| {
            path.parent()
                .and_then(|p| p.parent())
                .is_some_and(|p| p.ends_with("data"))
        })
        .max_by_key(|(_, bytes)| bytes.len())
        .unwrap();
    let mut bytes = std::fs::read(pack).unwrap();
    for at in (0..bytes.len()).step_by(1024) {
        bytes[at] ^= 0x40;
    }
    std::fs::write(pack, &bytes).unwrap();
    let damaged = repo.files();
    assert!(!repo.restic(&["check", "--read-data"]).status.success());
    let other = offline.path("other.json");
    profiles_file(&other, 700);
    offline.ok(&["restore", "profiles", "-i", other.to_str().unwrap()]);
    let before = std::fs::read(&offline.image).unwrap();
    let said = offline.fails(&repo.with(&["load", "--yes"]), 3);
    assert!(
        said.contains("does not read back as it was written"),
        "{said}"
    );
    offline.assert_image_unchanged(&before);
    assert!(repo.files() == damaged, "the repository changed");
}

/// Dumps killed with SIGKILL at random moments leave the repository as
/// restic's check wants it, with no snapshot but whole ones; each rerun
/// completes, and every snapshot restores to the image.
#[test]
fn dumps_into_a_repository_killed_at_random_moments_lose_nothing() {
    let (offline, _) = Offline::with_profiles(3000);
    let repo = Repository::init(&offline);
    let plain = offline.path("plain.dat");
    offline.ok(&["dump", "-o", plain.to_str().unwrap()]);
    let image = std::fs::read(&plain).unwrap();
    let began = std::time::Instant::now();
    offline.ok(&repo.with(&["dump"]));
    let duration = began.elapsed();
    let seed = crate::kill::seed("dump --repo");
    eprintln!(
        "dump --repo: an uninterrupted run takes {duration:?}; kill moments from seed {seed}"
    );
    let mut moments = crate::kill::Moments(seed);
    let mut complete = 1;
    for trial in 0..TRIALS {
        let at = moments.next(duration);
        let mut child = offline
            .command(&offline.image, &repo.with(&["dump"]))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(at);
        let _ = child.kill();
        let finished = child.wait().unwrap().success();
        repo.restic_ok(&["check"]);
        let listed = json(&repo.restic_ok(&["snapshots", "--json"]));
        let count = listed.as_array().unwrap().len();
        // Killed after its snapshot was written, a dump leaves it whole.
        let expected = if finished {
            complete + 1..=complete + 1
        } else {
            complete..=complete + 1
        };
        assert!(
            expected.contains(&count),
            "trial {trial}, killed at {at:?}: {count} snapshots, expected {expected:?}"
        );
        offline.ok(&repo.with(&["dump"]));
        complete = count + 1;
    }
    repo.restic_ok(&["check", "--read-data"]);
    let listed = json(&repo.restic_ok(&["snapshots", "--json"]));
    for (i, snapshot) in listed.as_array().unwrap().iter().enumerate() {
        let id = snapshot["id"].as_str().unwrap();
        let restored = repo.restored(id, &offline.path(&format!("restored-{i}")));
        assert!(
            std::fs::read(restored.join("stable_memory.dat")).unwrap() == image,
            "snapshot {id}"
        );
    }
}

const TRIALS: usize = 6;

/// `rclone serve restic` on localhost: restic's REST protocol, spoken by a
/// server no one here wrote.
struct RestServer {
    child: std::process::Child,
    url: String,
}

impl RestServer {
    fn start(dir: &Path) -> RestServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("rclone")
            .args(["serve", "restic", "--addr", &format!("127.0.0.1:{port}")])
            .arg(dir)
            .env("RCLONE_CONFIG", dir.join("rclone.conf"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("rclone runs (scripts/test.sh installs Debian's rclone)");
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed().as_secs() < 30,
                "rclone serve restic did not listen"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        RestServer {
            child,
            url: format!("rest:http://127.0.0.1:{port}/repo"),
        }
    }
}

impl Drop for RestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The same through a REST server: ic-backup creates the repository and
/// dumps into it twice over HTTP, restic checks and restores through the
/// same server, and `load` reads it back.
#[test]
fn dumps_go_through_a_rest_server() {
    let (offline, _) = Offline::with_profiles(1000);
    let served = offline.path("served");
    std::fs::create_dir(&served).unwrap();
    let server = RestServer::start(&served);
    let repo = Repository {
        path: PathBuf::from(&server.url),
        password: offline.path("repo-password"),
    };
    std::fs::write(&repo.password, "over http\n").unwrap();
    offline.ok(&repo.with(&["repo", "init"]));
    assert!(served.join("repo/config").is_file());
    let plain = offline.path("plain.dat");
    offline.ok(&["dump", "-o", plain.to_str().unwrap()]);
    let first = json(&offline.ok(&repo.with(&["--json", "dump"])));
    let second = json(&offline.ok(&repo.with(&["--json", "dump"])));
    assert_eq!(second["downloaded"], 0, "{second}");
    assert!(
        second["repository_growth"].as_u64().unwrap() < 4096,
        "{second}"
    );
    repo.restic_ok(&["check", "--read-data"]);
    let restored = repo.restored(
        first["snapshot"].as_str().unwrap(),
        &offline.path("restored"),
    );
    assert!(
        std::fs::read(restored.join("stable_memory.dat")).unwrap()
            == std::fs::read(&plain).unwrap()
    );
    let other = offline.path("other.json");
    profiles_file(&other, 10);
    offline.ok(&["restore", "profiles", "-i", other.to_str().unwrap()]);
    offline.ok(&repo.with(&["load", "--yes"]));
    assert_eq!(offline.profile_count_on(&offline.image), 1000);
}

/// Against a served canister: a typed backup and an IC snapshot's folder go
/// into the repository (restic restores what `-o` writes), and come back
/// from it: the folder uploaded and loaded, the backup restored.
#[test]
fn typed_backups_and_snapshot_folders_go_into_the_repository_and_back() {
    let net = crate::common::net::Net::start();
    let repo = Repository::init(&net.offline);
    net.set_profile("ada");
    let get = ["canister", "call", &net.canister(), "get_profile", "()"];

    // A typed backup, as restic restores it: the entries of `-o`'s file.
    let saved = json(&net.backup_ok(&repo.with(&["--json", "backup", "profiles"])));
    let tags = saved["tags"].to_string();
    assert!(
        tags.contains("map=profiles") && tags.contains("kind=backup") && tags.contains("cut=paged"),
        "{saved}"
    );
    // The module's hash, as the state tree gives it (anyone may read it).
    let wasm = std::fs::read(&net.offline.wasm).unwrap();
    let module = format!("module={}", crate::common::net::sha256_hex(&wasm));
    assert!(tags.contains(&module), "{module} in {saved}");
    let plain = net.offline.path("profiles.json");
    net.backup_ok(&["backup", "profiles", "-o", plain.to_str().unwrap()]);
    let restored = repo.restored(
        saved["snapshot"].as_str().unwrap(),
        &net.offline.path("typed"),
    );
    assert_eq!(
        crate::common::entries(&restored.join("profiles.json")),
        crate::common::entries(&plain)
    );

    // An IC snapshot's folder, as restic restores it: `-o`'s folder.
    let id = net
        .backup_ok(&["snapshot", "take", "--stop"])
        .trim()
        .to_string();
    let saved = json(&net.backup_ok(&repo.with(&["--json", "snapshot", "download", &id])));
    assert!(
        saved["tags"]
            .to_string()
            .contains(&format!("snapshot={id}")),
        "{saved}"
    );
    let folder = net.offline.path("folder");
    net.backup_ok(&["snapshot", "download", &id, "-o", folder.to_str().unwrap()]);
    let restored = repo.restored(
        saved["snapshot"].as_str().unwrap(),
        &net.offline.path("folders"),
    );
    for file in [
        "wasm_module.bin",
        "wasm_memory.bin",
        "stable_memory.bin",
        "metadata.json",
    ] {
        assert!(
            std::fs::read(restored.join(file)).unwrap()
                == std::fs::read(folder.join(file)).unwrap(),
            "{file}"
        );
    }
    repo.restic_ok(&["check", "--read-data"]);

    // A consistent dump: from one cut, tagged so, the cut's snapshot gone.
    let cut = json(&net.backup_ok(&repo.with(&["--json", "dump", "--consistent"])));
    let tags = cut["tags"].to_string();
    let canister = format!("canister={}", net.canister());
    assert!(
        tags.contains("cut=consistent") && tags.contains(&canister),
        "{cut}"
    );
    assert_eq!(
        net.snapshots(),
        vec![id.clone()],
        "only the snapshot taken above is left"
    );

    // Back: the folder uploaded from the repository and loaded...
    net.set_profile("bob");
    let uploaded = net
        .backup_ok(&repo.with(&["snapshot", "upload"]))
        .trim()
        .to_string();
    net.backup_ok(&["snapshot", "load", &uploaded, "--stop"]);
    assert!(net.ok(&get).contains("\"ada\""), "{}", net.ok(&get));
    // ... and the typed backup restored from it.
    net.set_profile("carol");
    net.backup_ok(&repo.with(&["restore", "profiles", "--replace"]));
    assert!(net.ok(&get).contains("\"ada\""), "{}", net.ok(&get));
}

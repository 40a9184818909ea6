//! The release wasm of the workspace's example and fixture canisters, for
//! tests, so that `cargo test --workspace` passes on a fresh clone with no
//! script run first.
//!
//! The first call in a process builds every canister of [`CANISTERS`] with
//! one `cargo build --release --target wasm32-unknown-unknown` (a no-op when
//! nothing changed) into `target/example-wasm`, a target directory of its
//! own, so that the tests' wasm is never the one `scripts/demo.sh` or
//! `scripts/bench.sh` just built (or rebuilt under them). Cargo's lock on
//! this directory makes test binaries that start together build it once.
//!
//! They are built with the oldest Rust the workspace declares
//! (`rust-version`) when that toolchain is installed, as `scripts/test.sh`
//! makes sure: the build the tests run is then also the check that a
//! canister crate, the derive's generated code included, compiles on it.
//! Without it, with the toolchain running the tests.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The canisters, by the name of their wasm file and their package.
pub const CANISTERS: [(&str, &str); 13] = [
    ("club", "club"),
    ("club_plain", "club-plain"),
    ("profiles", "profiles"),
    ("ledger", "ledger"),
    ("v1_fixture", "v1-fixture"),
    ("cell_fixture", "cell-fixture"),
    ("strict_fixture", "strict-fixture"),
    ("wide_fixture", "wide-fixture"),
    ("profiles_next", "profiles-next"),
    ("members_v1", "members-v1"),
    ("members_v2", "members-v2"),
    ("members_v3", "members-v3"),
    ("members_v4", "members-v4"),
];

/// The workspace's root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// How the canisters are built: optimised as the release profile says, but
/// without its whole-program link step and in four code units each instead
/// of one: the tests need the canisters' behaviour, not their last
/// instruction (the benchmarks build with the release profile). On this
/// 2-core machine the thirteen canisters took 75 s so, against 85 s in 16
/// units and 78 s in 1 or 2 (`opt-level = "s"` took 59 s, but its wasm ran
/// the CLI tests a tenth slower). A test that builds a canister crate of
/// its own into [`target_dir`] sets these too, so that it reuses the
/// dependencies built here.
pub const PROFILE: [(&str, &str); 2] = [
    ("CARGO_PROFILE_RELEASE_LTO", "false"),
    ("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "4"),
];

/// Where the wasm files are built.
pub fn target_dir() -> PathBuf {
    workspace().join("target/example-wasm")
}

/// The workspace's `rust-version` as a toolchain name (`1.88` gives
/// `1.88.0`), if it is installed with the wasm32 target.
pub fn declared_toolchain() -> Option<String> {
    static TOOLCHAIN: OnceLock<Option<String>> = OnceLock::new();
    TOOLCHAIN
        .get_or_init(|| {
            let manifest = std::fs::read_to_string(workspace().join("Cargo.toml")).ok()?;
            let version = manifest
                .lines()
                .find_map(|line| line.trim().strip_prefix("rust-version"))?
                .split('"')
                .nth(1)?;
            let toolchain = match version.split('.').count() {
                2 => format!("{version}.0"),
                _ => version.to_string(),
            };
            let sysroot = Command::new("rustup")
                .args(["run", &toolchain, "rustc", "--print", "sysroot"])
                .env_remove("RUSTUP_TOOLCHAIN")
                .output()
                .ok()
                .filter(|out| out.status.success())?;
            let sysroot = String::from_utf8(sysroot.stdout).ok()?;
            Path::new(sysroot.trim())
                .join("lib/rustlib/wasm32-unknown-unknown")
                .is_dir()
                .then_some(toolchain)
        })
        .clone()
}

/// A `cargo` command in `dir` that builds as the example canisters are
/// built: with [`declared_toolchain`] if installed (else the cargo running
/// this process), the release profile changed by [`PROFILE`], and none of
/// the environment that would make it another build (a target directory,
/// flags, the compiler or a wrapper of the outer build).
pub fn cargo(dir: &Path) -> Command {
    let mut command = match declared_toolchain() {
        Some(toolchain) => {
            let mut command = Command::new("rustup");
            command.args(["run", &toolchain, "cargo"]);
            command
        }
        None => Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())),
    };
    command.current_dir(dir).envs(PROFILE);
    for variable in [
        "CARGO_TARGET_DIR",
        "RUSTFLAGS",
        "RUSTC",
        "RUSTDOC",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTUP_TOOLCHAIN",
    ] {
        command.env_remove(variable);
    }
    command
}

/// Builds every canister once per process; the folder of the wasm files,
/// or why they could not be built.
fn built() -> &'static Result<PathBuf, String> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT.get_or_init(|| {
        let mut command = cargo(&workspace());
        command
            .args(["build", "--locked", "--release", "--quiet"])
            .args(["--target", "wasm32-unknown-unknown", "--target-dir"])
            .arg(target_dir());
        for (_, package) in CANISTERS {
            command.args(["-p", package]);
        }
        let out = command
            .output()
            .map_err(|error| format!("cannot run {command:?}: {error}"))?;
        if !out.status.success() {
            return Err(format!(
                "building the example canisters for wasm32 with {} failed (is the target \
                 installed? `rustup target add wasm32-unknown-unknown`, which scripts/test.sh \
                 runs):\n{}",
                declared_toolchain().map_or_else(
                    || "the tests' toolchain".to_string(),
                    |t| format!("Rust {t}")
                ),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(target_dir().join("wasm32-unknown-unknown/release"))
    })
}

/// The path of canister `name`'s release wasm (`profiles`, `strict_fixture`,
/// ...), built if it is not yet. Panics, saying why, if it cannot be built:
/// a test without its canister cannot run.
pub fn path(name: &str) -> PathBuf {
    assert!(
        CANISTERS.iter().any(|(file, _)| *file == name),
        "no example canister `{name}`: the canisters are {:?}",
        CANISTERS.map(|(file, _)| file)
    );
    match built() {
        Ok(folder) => folder.join(format!("{name}.wasm")),
        Err(why) => panic!("{why}"),
    }
}

/// Builds every canister (once per process): the folder of their wasm, or
/// why the build failed.
pub fn build() -> Result<PathBuf, String> {
    built().clone()
}

/// The crates a canister author reads on docs.rs.
pub const DOCUMENTED: [&str; 3] = ["backup-runtime", "backup-derive", "backup-common"];

/// rustdoc on [`DOCUMENTED`], warnings denied, built as the canisters are
/// ([`cargo`]: the same compiler, target, profile and target directory), so
/// that it reads the dependencies their build left instead of checking them
/// again; why it failed, if it did.
pub fn document() -> Result<(), String> {
    let mut command = cargo(&workspace());
    command
        .args(["doc", "--locked", "--release", "--quiet", "--no-deps"])
        .args(["--target", "wasm32-unknown-unknown", "--target-dir"])
        .arg(target_dir())
        .env("RUSTDOCFLAGS", "-D warnings");
    for package in DOCUMENTED {
        command.args(["-p", package]);
    }
    let status = command
        .status()
        .map_err(|error| format!("cannot run {command:?}: {error}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("rustdoc on {DOCUMENTED:?} failed ({status})"))
    }
}

/// The bytes of canister `name`'s release wasm, built if it is not yet.
pub fn bytes(name: &str) -> Vec<u8> {
    let path = path(name);
    std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

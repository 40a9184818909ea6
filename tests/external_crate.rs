//! A canister crate outside this workspace, depending on `backup-runtime` by
//! path plus the crates ic-cdk's macros name, that writes only the struct of
//! DESIGN.md, builds for wasm32 with no other code from us and exports every
//! endpoint. (The same crate built for the host, and its Candid service read,
//! is the test `tests/derive-messages/pass/design-example.rs`.)

use std::path::{Path, PathBuf};

const LIB_RS: &str = r#"
use backup_runtime::prelude::*;

#[derive(Clone, Debug, Default, CandidType, Deserialize)]
pub struct Profile {
    updated_time_msecs: Option<u64>,
    username: Option<String>,
    password: Option<String>,
    email: Option<String>,
}

impl Storable for Profile {
    fn to_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Owned(candid::encode_one(self).unwrap())
    }
    fn into_bytes(self) -> Vec<u8> {
        candid::encode_one(&self).unwrap()
    }
    fn from_bytes(bytes: Cow<[u8]>) -> Self {
        candid::decode_one(&bytes).unwrap()
    }
    const BOUND: Bound = Bound::Unbounded;
}

#[derive(Backupable)]
pub struct Stable {
    /// User profiles; keys travel as principal text, as in the article.
    #[backup(memory_id = 0, key = text)]
    profiles: StableBTreeMap<Principal, Profile, Memory>,
}

ic_cdk::export_candid!();
"#;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn write_crate(dir: &Path) {
    let runtime = workspace().join("backup-runtime");
    let manifest = format!(
        r#"[package]
name = "outside-canister"
version = "0.1.0"
edition = "2021"
publish = false

[lib]
crate-type = ["cdylib", "rlib"]

[dependencies]
backup-runtime = {{ path = "{}" }}
candid = "0.10"
ic-cdk = "0.20"
ic-stable-structures = "0.7"
serde = {{ version = "1", features = ["derive"] }}

[workspace]

# The workspace's release profile (as the examples' wasm is built for the
# tests: example_wasm::PROFILE), and the examples' crate types: the
# dependencies the examples' wasm was built with are reused, not rebuilt.
[profile.release]
opt-level = 3
lto = true
codegen-units = 1
"#,
        runtime.display()
    );
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    std::fs::write(dir.join("src/lib.rs"), LIB_RS).unwrap();
    // The workspace's lock file pins the same versions, so nothing new is fetched.
    std::fs::copy(workspace().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
}

fn cargo_build(dir: &Path, target_dir: &Path, extra: &[&str]) -> std::process::Output {
    example_wasm::cargo(dir)
        .args(["build", "--quiet", "--target-dir"])
        .arg(target_dir)
        .args(extra)
        .output()
        .expect("cargo runs")
}

#[test]
fn a_crate_outside_the_workspace_builds_for_wasm32() {
    let target = workspace().join("target");
    let dir = target.join("outside-canister");
    write_crate(&dir);
    // The examples' target directory, their dependencies built.
    example_wasm::build().unwrap();
    let target_dir = example_wasm::target_dir();

    let wasm = cargo_build(
        &dir,
        &target_dir,
        &["--release", "--target", "wasm32-unknown-unknown"],
    );
    assert!(
        wasm.status.success(),
        "wasm32 build failed:\n{}",
        String::from_utf8_lossy(&wasm.stderr)
    );
    let module =
        std::fs::read(target_dir.join("wasm32-unknown-unknown/release/outside_canister.wasm"))
            .unwrap();
    for export in [
        "canister_query backup_profiles",
        "canister_query backup_profiles_page",
        "canister_update restore_profiles",
        "canister_update clear_profiles",
        "canister_update authorize",
        "canister_query stable_read",
        "canister_update stable_write",
        "canister_query stable_digest",
    ] {
        // In the export section a function's name is followed by its kind, 0x00.
        let entry = [export.as_bytes(), &[0]].concat();
        let found = module.windows(entry.len()).any(|window| window == entry);
        assert!(found, "the wasm module does not export `{export}`");
    }
}

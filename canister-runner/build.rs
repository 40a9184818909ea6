//! The runner's build id, `CANISTER_RUNNER_BUILD`: a hash of its own sources,
//! its version and the workspace's lock file (when it is built in the
//! workspace), so that a metered module cached by one build of the runner
//! is never read by another (`src/module/cache.rs`).

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let mut paths = Vec::new();
    files(&root.join("src"), &mut paths);
    paths.push(root.join("Cargo.toml"));
    paths.push(root.join("../Cargo.lock"));
    paths.sort();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    std::env::var("CARGO_PKG_VERSION")
        .unwrap_or_default()
        .hash(&mut hasher);
    for path in &paths {
        if let Ok(bytes) = std::fs::read(path) {
            path.strip_prefix(&root).unwrap_or(path).hash(&mut hasher);
            bytes.hash(&mut hasher);
        }
    }
    println!(
        "cargo:rustc-env=CANISTER_RUNNER_BUILD={:016x}",
        hasher.finish()
    );
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=Cargo.toml");
    println!("cargo:rerun-if-changed=../Cargo.lock");
}

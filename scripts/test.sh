#!/usr/bin/env bash
# Runs every check and test of the project on a fresh machine: installs the
# pinned toolchain (its wasm32 target, rustfmt and clippy), checks
# formatting, the canister crates on the declared rust-version and rustdoc
# (warnings denied) on those a canister author reads, installs the
# clients no one here wrote from npm (@dfinity/agent, and icp-cli 1.5's `icp`
# binary), builds the tests with clippy's lints (warnings denied, the
# workspace's `[lints]`) and the example canisters, then runs the whole
# workspace's tests (trybuild included).
set -euo pipefail
cd "$(dirname "$0")/.."
# A fresh machine builds everything once: incremental state would only be
# written, never read.
export CARGO_INCREMENTAL=0

# Each phase's heading, with the seconds since the start.
phase() {
    echo "== $* (at ${SECONDS} s)"
}

. scripts/toolchain.sh
ensure_toolchain rust-toolchain.toml rustfmt clippy

phase "formatting"
cargo fmt --all --check
# The crates a canister compiles in, checked with the oldest Rust they declare
# (`rust-version` in Cargo.toml) for wasm32, in a target directory of their
# own; then rustdoc on those a canister author reads on docs.rs, warnings
# denied, with the same compiler and target: rustdoc reads the dependencies
# that check left, instead of checking them once more. (The other crates are
# documented for contributors only; documenting them would check the
# runner's interpreter and the CLI's HTTP and TLS stack once more.)
msrv=$(sed -n 's/^rust-version = "\([0-9]*\.[0-9]*\)\(\.[0-9]*\)\{0,1\}".*/\1/p' Cargo.toml).0
phase "the canister crates on Rust $msrv, the workspace's rust-version"
if ! rustup toolchain list | grep -q "^$msrv"; then
    rustup toolchain install "$msrv" --profile minimal
fi
rustup target add --toolchain "$msrv" wasm32-unknown-unknown >/dev/null
canister_crates=(-p backup-runtime -p backup-derive -p backup-common)
cargo "+$msrv" check --locked --quiet --target wasm32-unknown-unknown \
    --target-dir target/msrv "${canister_crates[@]}" -p profiles -p ledger
phase "rustdoc on Rust $msrv, warnings denied"
RUSTDOCFLAGS="-D warnings" cargo "+$msrv" doc --locked --quiet --no-deps \
    --target wasm32-unknown-unknown --target-dir target/msrv "${canister_crates[@]}"

if command -v node >/dev/null && command -v npm >/dev/null; then
    phase "npm packages: @dfinity/agent and icp-cli (clients of ic-backup serve)"
    (cd scripts/agent-js && npm ci --no-audit --no-fund)
else
    echo "== node is not installed: the agent-js test is skipped, and the icp-cli tests fail (install node and npm)"
fi

# Clippy's lints run as the workspace's crates are built for the tests
# (clippy-driver, the compiler with the lints added, wraps rustc for the
# workspace's members), with warnings denied: a separate `cargo clippy` would
# check every dependency once more. Given as `--config`, the settings reach
# neither the tests' processes nor the builds they start (the example
# canisters, trybuild's cases), which build as a user's would.
channel=$(toolchain rust-toolchain.toml)
clippy_build=(
    --config "build.rustc-workspace-wrapper=\"$(rustup which --toolchain "$channel" clippy-driver)\""
    --config 'build.rustflags=["-D", "warnings"]'
)
phase "building the tests (clippy's lints, warnings denied) and the example canisters"
cargo "${clippy_build[@]}" test --locked --workspace --no-run --quiet
cargo run --locked --quiet -p example-wasm --bin build-example-wasm

phase "tests"
cargo "${clippy_build[@]}" test --locked --workspace
phase "done"

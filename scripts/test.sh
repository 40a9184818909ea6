#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs the pinned
# toolchain's wasm32 target, builds the example and fixture canisters for
# wasm32 in release mode, installs the clients no one here wrote from npm
# (@dfinity/agent, and icp-cli 1.5's `icp` binary), then runs the whole
# workspace's tests (trybuild included).
set -euo pipefail
cd "$(dirname "$0")/.."

toolchain=$(sed -n 's/^channel = "\(.*\)"/\1/p' rust-toolchain.toml)
if ! rustup toolchain list | grep -q "^$toolchain"; then
    rustup toolchain install "$toolchain" --profile minimal
fi
rustup target add --toolchain "$toolchain" wasm32-unknown-unknown

echo "== wasm32 builds of the examples"
cargo build --locked --release --target wasm32-unknown-unknown -p profiles -p ledger -p v1-fixture -p cell-fixture -p strict-fixture -p wide-fixture
ls -l target/wasm32-unknown-unknown/release/profiles.wasm target/wasm32-unknown-unknown/release/ledger.wasm

if command -v node >/dev/null && command -v npm >/dev/null; then
    echo "== npm packages: @dfinity/agent and icp-cli (clients of ic-backup serve)"
    (cd scripts/agent-js && npm ci --no-audit --no-fund)
else
    echo "== node is not installed: the agent-js test is skipped, and the icp-cli tests fail (install node and npm)"
fi

echo "== tests"
cargo test --locked --workspace

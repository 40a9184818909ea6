#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs the pinned
# toolchain's wasm32 target, builds the example canisters for wasm32 in
# release mode, then runs the whole workspace's tests (trybuild included).
set -euo pipefail
cd "$(dirname "$0")/.."

toolchain=$(sed -n 's/^channel = "\(.*\)"/\1/p' rust-toolchain.toml)
if ! rustup toolchain list | grep -q "^$toolchain"; then
    rustup toolchain install "$toolchain" --profile minimal
fi
rustup target add --toolchain "$toolchain" wasm32-unknown-unknown

echo "== wasm32 builds of the examples"
cargo build --locked --release --target wasm32-unknown-unknown -p profiles -p ledger -p v1-fixture -p cell-fixture -p strict-fixture
ls -l target/wasm32-unknown-unknown/release/profiles.wasm target/wasm32-unknown-unknown/release/ledger.wasm

if command -v node >/dev/null && command -v npm >/dev/null; then
    echo "== agent-js packages (for the agent-js client of ic-backup serve)"
    (cd scripts/agent-js && npm ci --no-audit --no-fund)
else
    echo "== node is not installed: the agent-js client test will be skipped"
fi

echo "== tests"
cargo test --locked --workspace

#!/usr/bin/env bash
# The benchmarks: backup, restore, dump and load costs on the profiles
# canister's real wasm in the embedded runner, side by side with the Factland
# article's approach. Release mode; prints a table and writes
# target/bench/results.json. Pass --quick for a smaller run. Last, the
# peak memory (RSS) of ic-backup run offline on the dumped image.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/toolchain.sh
ensure_toolchain rust-toolchain.toml
cargo build --locked --quiet --release --target wasm32-unknown-unknown -p profiles
# ic-backup too: the memory benchmark runs it and reads its peak RSS.
cargo build --locked --quiet --release -p backup-bench -p ic-backup
exec target/release/backup-bench "$@"

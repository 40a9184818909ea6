#!/usr/bin/env bash
# The benchmarks: backup, restore, dump and load costs on the profiles
# canister's real wasm in the embedded runner, side by side with the Factland
# article's approach. Release mode; prints a table and writes
# target/bench/results.json. Pass --quick for a smaller run. Last, the
# peak memory (RSS) of ic-backup run offline on the dumped image, and the
# club canister's structures (`--structures` alone): each kind's pages
# against canbench's vec figure, and the native reader's speed.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/toolchain.sh
ensure_toolchain rust-toolchain.toml
cargo build --locked --quiet --release --target wasm32-unknown-unknown -p profiles -p club
# canbench's vec benchmarks, the floor of the structures' pages: built with
# dfinity/stable-structures' own pinned toolchain, where its reference copy
# is (../shared/reference/stable-structures, or $STABLE_STRUCTURES).
source=${STABLE_STRUCTURES:-../shared/reference/stable-structures}
if [ -z "${CANBENCH_VEC_WASM:-}" ] && [ -f "$source/benchmarks/vec/canbench.yml" ]; then
    work=target/fidelity/stable-structures
    mkdir -p "$work"
    cp -a "$source/." "$work/"
    ensure_toolchain "$work/rust-toolchain.toml"
    toolchain=$(toolchain "$work/rust-toolchain.toml")
    if (cd "$work" && cargo "+$toolchain" build -p benchmarks --bin vec --release \
        --target wasm32-unknown-unknown --locked --quiet); then
        export CANBENCH_VEC_WASM="$work/target/wasm32-unknown-unknown/release/vec.wasm"
    fi
fi
# ic-backup too: the memory benchmark runs it and reads its peak RSS.
cargo build --locked --quiet --release -p backup-bench -p ic-backup
exec target/release/backup-bench "$@"

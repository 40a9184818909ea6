#!/usr/bin/env bash
# How close the runner's instruction counts are to the IC's: builds
# dfinity/stable-structures' btreemap canbench benchmarks (from
# ../shared/reference/stable-structures, or $STABLE_STRUCTURES) with that
# project's own pinned toolchain, runs each benchmark in the runner, and
# compares its count with the IC's in canbench_results.yml. Not run by CI
# (all 252 benchmarks take a while); `--every 3` runs a third of them.
# Other options: see `target/release/fidelity --help`.
set -euo pipefail
cd "$(dirname "$0")/.."
source=${STABLE_STRUCTURES:-../shared/reference/stable-structures}
if [ ! -f "$source/benchmarks/btreemap/canbench_results.yml" ]; then
    echo "error: no stable-structures benchmarks at $source (set STABLE_STRUCTURES)" >&2
    exit 2
fi
# Built in a copy, so the reference stays as it was handed over.
work=target/fidelity/stable-structures
mkdir -p "$work"
cp -a "$source/." "$work/"

. scripts/toolchain.sh
ensure_toolchain "$work/rust-toolchain.toml"
toolchain=$(toolchain "$work/rust-toolchain.toml")
echo "== building the btreemap benchmarks with Rust $toolchain" >&2
(cd "$work" && cargo "+$toolchain" build -p benchmarks --bin btreemap --release \
    --target wasm32-unknown-unknown --locked --quiet)

ours=$(toolchain rust-toolchain.toml)
cargo "+$ours" build --locked --quiet --release -p backup-bench --bin fidelity
exec target/release/fidelity \
    --wasm "$work/target/wasm32-unknown-unknown/release/btreemap.wasm" \
    --results "$work/benchmarks/btreemap/canbench_results.yml" "$@"

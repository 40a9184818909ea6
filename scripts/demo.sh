#!/usr/bin/env bash
# The main job, end to end, on the embedded runner: build the profiles
# canister, run it over a fresh stable memory image, fill it from the
# article-style JSON in examples/profiles/demo/, back the map up, let a "bug"
# damage it, restore it, and show it whole again.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/toolchain.sh
ensure_toolchain rust-toolchain.toml
echo "== building the profiles canister (wasm32) and ic-backup"
cargo build --locked --quiet --release --target wasm32-unknown-unknown -p profiles
cargo build --locked --quiet --release -p ic-backup

work=target/demo
rm -rf "$work" && mkdir -p "$work"
ic_backup() {
    echo "\$ ic-backup $*" | sed "s|$work/||g"
    target/release/ic-backup --wasm target/wasm32-unknown-unknown/release/profiles.wasm --image "$work/stable_memory.bin" "$@"
}

echo "== 1. a fresh canister, filled with 120 profiles"
ic_backup restore profiles -i examples/profiles/demo/profiles.json
ic_backup call profile_count

echo "== 2. back the map up"
ic_backup backup profiles -o "$work/backup.json" --format json

echo "== 3. a bug: every profile is wiped, and an intruder moves in"
ic_backup call clear_profiles
ic_backup call set_profile '(record { username = opt "intruder"; email = null; password = null; updated_time_msecs = null })'
ic_backup call profile_count
ic_backup inspect "$work/stable_memory.bin"

echo "== 4. restore exactly what was backed up"
ic_backup restore profiles -i "$work/backup.json" --replace

echo "== 5. whole again"
ic_backup call profile_count
ic_backup backup profiles -o "$work/after.json" --format json
cmp "$work/backup.json" "$work/after.json" && echo "after.json is byte for byte backup.json"
first=$(sed -n '3p' "$work/backup.json" | tr -d ' ",')
ic_backup call get_profile_of "(principal \"$first\")"

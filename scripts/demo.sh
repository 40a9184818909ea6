#!/usr/bin/env bash
# The main job, end to end: back up the profiles map to JSON, damage it,
# restore it, and check every entry (see examples/profiles/examples/backup_demo.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --locked --release -p profiles --example backup_demo

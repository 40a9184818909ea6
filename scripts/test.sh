#!/usr/bin/env bash
# Runs every check and test of the project on a fresh machine: installs the
# pinned toolchain (its wasm32 target, rustfmt and clippy), checks
# formatting, installs Debian's libzstd-dev, then builds the tests with
# clippy's lints (warnings denied, the workspace's `[lints]`) while it
# installs, in the background, the oldest Rust the workspace declares
# (`rust-version`) and the clients no one here wrote, from npm
# (@dfinity/agent, and icp-cli 1.5's `icp` binary) and from Debian (restic,
# rclone); builds the example canisters with the declared Rust, runs rustdoc
# (warnings denied) on the crates a canister author reads, then runs the
# whole workspace's tests (trybuild included).
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

# restic's library compresses with zstd's C library: the zstd-sys crate
# builds it from its sources (a minute of one core at -O3), unless told to
# link the system's (Debian's libzstd 1.5, the same format). Installed
# first: the test build depends on it.
if ! pkg-config --exists libzstd 2>/dev/null; then
    command -v pkg-config >/dev/null || install_apt_package pkg-config || true
    install_apt_package libzstd-dev || true
fi
if pkg-config --exists libzstd 2>/dev/null; then
    export ZSTD_SYS_USE_PKG_CONFIG=1
fi

# What only later phases need is fetched while the tests build (the
# downloads leave the cores to the compiler): each in the background, its
# output in target/test-setup/, waited for (and shown, if it failed) where
# it is needed.
setup_logs=target/test-setup
mkdir -p "$setup_logs"
background() {
    local name=$1
    shift
    "$@" >"$setup_logs/$name.log" 2>&1 &
    eval "setup_$name=\$!"
}
# `await NAME`: waits for background job NAME; shows its output and fails
# if it failed.
await() {
    local pid
    eval "pid=\$setup_$1"
    if ! wait "$pid"; then
        cat "$setup_logs/$1.log" >&2
        echo "error: $1 failed (its output above, and in $setup_logs/$1.log)" >&2
        exit 1
    fi
}

# The oldest Rust the workspace declares (`rust-version` in Cargo.toml): the
# example canisters are built with it (tests/example-wasm), so that the
# wasm the tests run is also the check that the canister crates, and the
# code the derive generates, compile on it.
msrv=$(sed -n 's/^rust-version = "\([0-9]*\.[0-9]*\)\(\.[0-9]*\)\{0,1\}".*/\1/p' Cargo.toml).0
background msrv ensure_channel "$msrv"

# Debian's restic (the repository tests check with it what ic-backup wrote)
# and rclone (whose `rclone serve restic` is the REST server they write to),
# and eatmydata (see the tests' phase).
install_debian_packages() {
    for package in restic rclone; do
        if ! command -v "$package" >/dev/null; then
            install_apt_package "$package"
        fi
    done
    if ! command -v eatmydata >/dev/null; then
        install_apt_package eatmydata || echo "eatmydata could not be installed: the tests run without it"
    fi
}
background debian install_debian_packages
# A run that stops early (a failed build) leaves no installation half done.
trap wait EXIT

if command -v node >/dev/null && command -v npm >/dev/null; then
    background npm bash -c "cd scripts/agent-js && npm ci --no-audit --no-fund"
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
phase "building the tests (clippy's lints, warnings denied)"
cargo "${clippy_build[@]}" test --locked --workspace --no-run --quiet
# The example canisters, then rustdoc on the crates a canister author reads
# on docs.rs, warnings denied, with the same compiler, target and profile as
# the canisters (`example_wasm::document`): it reads the dependencies that
# build left instead of checking them again. (The other crates are
# documented for contributors only; documenting them would check the
# runner's interpreter and the CLI's HTTP and TLS stack once more.) Built
# after the tests, not beside them: run in the background, the two builds
# together took 652 s in a fresh clone, no less than one after the other
# (530-560 s before restic's library, which adds about 50).
await msrv
phase "building the example canisters on Rust $msrv, then rustdoc there, warnings denied"
cargo run --locked --quiet -p example-wasm --bin build-example-wasm -- --doc

# The tests write thousands of files atomically (temporary file, fsync,
# rename); on this machine's disk the fsyncs leave the cores idle for a
# tenth of the tests' time. Debian's eatmydata makes fsync a no-op for the
# tests' processes: a process killed (as the tests kill them) loses nothing
# the kernel holds, so what they check is unchanged; only a power cut would
# tell, and no test cuts power. Installed when missing, skipped if it cannot
# be.
await debian
if [ -n "${setup_npm:-}" ]; then
    await npm
fi
eatmydata=()
if command -v eatmydata >/dev/null; then
    eatmydata=(eatmydata)
fi

# One test thread more than the machine has cores: the CLI tests spend part
# of their time waiting (on the processes they start, the moments they kill
# them at, a server's retries), and a third thread keeps two cores busy: on
# this 2-core machine they took 170-186 s instead of 203 s. Set
# RUST_TEST_THREADS to choose otherwise.
export RUST_TEST_THREADS=${RUST_TEST_THREADS:-$(($(nproc) + 1))}
phase "tests ($RUST_TEST_THREADS at a time)"
"${eatmydata[@]}" cargo "${clippy_build[@]}" test --locked --workspace
phase "done"

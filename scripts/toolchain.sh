# Sourced by the scripts: `toolchain FILE` prints the channel a
# rust-toolchain.toml pins; `ensure_toolchain FILE [COMPONENT...]` installs
# that toolchain (with the wasm32 target, and the components named) when it
# is missing: the machine has RUSTUP_AUTO_INSTALL=0, so nothing is installed
# behind a script's back.

toolchain() {
    sed -n 's/^channel = "\([^"]*\)".*/\1/p' "$1"
}

ensure_toolchain() {
    local file=$1
    shift
    local channel
    channel=$(toolchain "$file")
    if ! rustup toolchain list | grep -q "^$channel"; then
        rustup toolchain install "$channel" --profile minimal
    fi
    rustup target add --toolchain "$channel" wasm32-unknown-unknown >/dev/null
    if [ "$#" -gt 0 ]; then
        rustup component add --toolchain "$channel" "$@" >/dev/null
    fi
}

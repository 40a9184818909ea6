# Sourced by the scripts: `toolchain FILE` prints the channel a
# rust-toolchain.toml pins; `ensure_toolchain FILE [COMPONENT...]` installs
# that toolchain (with the wasm32 target, and the components named) when it
# is missing, `ensure_channel CHANNEL [COMPONENT...]` a toolchain named
# directly: the machine has RUSTUP_AUTO_INSTALL=0, so nothing is installed
# behind a script's back. `install_apt_package NAME` installs a Debian package.

toolchain() {
    sed -n 's/^channel = "\([^"]*\)".*/\1/p' "$1"
}

ensure_toolchain() {
    local file=$1
    shift
    ensure_channel "$(toolchain "$file")" "$@"
}

ensure_channel() {
    local channel=$1
    shift
    if ! rustup toolchain list | grep -q "^$channel"; then
        rustup toolchain install "$channel" --profile minimal
    fi
    rustup target add --toolchain "$channel" wasm32-unknown-unknown >/dev/null
    if [ "$#" -gt 0 ]; then
        rustup component add --toolchain "$channel" "$@" >/dev/null
    fi
}

# `install_apt_package NAME` installs Debian package NAME with apt-get (as
# root, or through sudo), refreshing the package lists if the first attempt
# fails; says why and fails if it cannot.
install_apt_package() {
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if ! command -v sudo >/dev/null; then
            echo "cannot install $1: not root and no sudo" >&2
            return 1
        fi
        sudo=(sudo -n)
    fi
    if ! command -v apt-get >/dev/null; then
        echo "cannot install $1: no apt-get on this machine" >&2
        return 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get install -y -qq "$1" >/dev/null 2>&1 ||
        { "${sudo[@]}" apt-get update -qq >/dev/null && "${sudo[@]}" apt-get install -y -qq "$1" >/dev/null; }
}

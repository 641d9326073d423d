# shellcheck shell=bash
# paths.sh: where `make deps` puts the test tools. Source it: `. tests/env/paths.sh`.
# Exports LPBAKE_DEPS (the cache dir), LPBAKE_GETH, LPBAKE_TEST_FFMPEG, LPBAKE_TEST_REGISTRY, the
# fixtures' LPBAKE_TEST_MIRROR / LPBAKE_TEST_LOCK (from `make fixtures`), and adds the tool dirs to PATH.
# No `set -euo pipefail` here on purpose: a sourced file must not change the caller's shell options.

LPBAKE_DEPS="${LPBAKE_DEPS:-$HOME/.cache/lpbake-deps}"
LPBAKE_FIXTURES_CACHE="${LPBAKE_FIXTURES_CACHE:-$HOME/.cache/lpbake-fixtures}"
LPBAKE_GETH="${LPBAKE_GETH:-$LPBAKE_DEPS/bin/geth}"
LPBAKE_TEST_FFMPEG="${LPBAKE_TEST_FFMPEG:-$LPBAKE_DEPS/bin/ffmpeg}"
export LPBAKE_DEPS LPBAKE_FIXTURES_CACHE LPBAKE_GETH LPBAKE_TEST_FFMPEG

# The loopback registry started by tests/env/services.sh.
export LPBAKE_TEST_REGISTRY="${LPBAKE_TEST_REGISTRY:-127.0.0.1:5000}"

# The offline mirror and its lock, built by tests/fixtures/build.sh (absolute paths).
_lpbake_root="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/../.." && pwd)"
export LPBAKE_TEST_MIRROR="${LPBAKE_TEST_MIRROR:-$_lpbake_root/target/fixtures/mirror}"
export LPBAKE_TEST_LOCK="${LPBAKE_TEST_LOCK:-$_lpbake_root/target/fixtures/lpbake.lock}"
unset _lpbake_root

_lpbake_path_add() {
    case ":$PATH:" in
        *":$1:"*) ;;
        *) if [ -d "$1" ]; then PATH="$1:$PATH"; fi ;;
    esac
}
# Later additions take precedence: our own bin dir first, then Go and Rust toolchains, then sbin (dockerd).
_lpbake_path_add /usr/sbin
_lpbake_path_add /sbin
_lpbake_path_add "$HOME/.cargo/bin"
_lpbake_path_add /usr/local/go/bin
_lpbake_path_add "$HOME/go/bin"
_lpbake_path_add "$LPBAKE_DEPS/bin"
unset -f _lpbake_path_add
export PATH

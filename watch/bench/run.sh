#!/usr/bin/env bash
# lpwatch bench: JSON-RPC latency direct to geth vs through the lpwatch proxy (p50/p99 ratio)
# and lpwatch's peak RSS under concurrent load. Loopback only, bounded (BENCH_REQUESTS,
# BENCH_CONCURRENCY, BENCH_LOAD_SECS). Needs geth (`make deps`). Called by `make bench`.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
cargo build --quiet --release -p lpwatch --bin lpwatch --example bench
export LPWATCH_BIN="$root/target/release/lpwatch"
if [ -z "${LPBAKE_GETH:-}" ] && ! command -v geth >/dev/null && [ -x "$HOME/.cache/lpbake-deps/bin/geth" ]; then
  export LPBAKE_GETH="$HOME/.cache/lpbake-deps/bin/geth"
fi
exec timeout 300 "$root/target/release/examples/bench"

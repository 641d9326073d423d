#!/usr/bin/env bash
# Share bench: remote-write pushes straight to Prometheus vs through the collector in front of
# it (verify and forward), p50/p99 latency and samples/s side by side; then the accepted pushes/s
# of 100 real orchestrators alone vs with 10k unknown accounts pushing alongside, with the chain
# calls of each phase (fails below 0.80 of the clean figure). Loopback only, bounded
# (BENCH_PUSHES, BENCH_CONCURRENCY, BENCH_LOAD_PUSHES, BENCH_REAL, BENCH_UNKNOWN, BENCH_SECS,
# BENCH_REAL_MAX; the timeout covers the release build too). Needs geth and prometheus
# (`make deps`). Called by `make bench`.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
if [ -z "${LPBAKE_GETH:-}" ] && ! command -v geth >/dev/null && [ -x "$HOME/.cache/lpbake-deps/bin/geth" ]; then
  export LPBAKE_GETH="$HOME/.cache/lpbake-deps/bin/geth"
fi
exec timeout 1800 cargo bench --quiet -p lpwatch --bench share

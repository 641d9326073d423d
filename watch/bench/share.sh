#!/usr/bin/env bash
# Share bench: remote-write pushes straight to Prometheus vs through `lpwatch collect` in front
# of it (verify and forward), p50/p99 latency and samples/s side by side. Loopback only,
# bounded (BENCH_PUSHES, BENCH_CONCURRENCY, BENCH_LOAD_PUSHES). Needs geth and prometheus
# (`make deps`). Called by `make bench`.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
if [ -z "${LPBAKE_GETH:-}" ] && ! command -v geth >/dev/null && [ -x "$HOME/.cache/lpbake-deps/bin/geth" ]; then
  export LPBAKE_GETH="$HOME/.cache/lpbake-deps/bin/geth"
fi
exec timeout 600 cargo bench --quiet -p lpwatch --bench share

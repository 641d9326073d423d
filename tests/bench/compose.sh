#!/usr/bin/env bash
# compose.sh: `make up` to all-healthy, cold (the testnet's images removed by id, so the load is
# real) and warm (images already loaded), side by side in one run, from the offline fixtures.
# Both start from `docker compose down -v`. Part of `make bench`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
. tests/env/paths.sh
ARGS="--offline --mirror $LPBAKE_TEST_MIRROR --lock $LPBAKE_TEST_LOCK --locked"
# This machine's Docker engine may not grant 65536 open files.
export LPBAKE_NOFILE="${LPBAKE_NOFILE:-$(ulimit -Hn | awk '{ print ($1 == "unlimited" || $1 > 65536) ? 65536 : $1 }')}"
images=(alertmanager ffmpeg geth livepeer lpwatch prometheus)

cargo build --release --quiet -p lpbake
make --no-print-directory up UP_BUILD_ARGS="$ARGS" >/dev/null   # warms lpbake's caches
docker compose down -v >/dev/null 2>&1

timed() { local t0; t0="$(date +%s.%N)"; make --no-print-directory up UP_BUILD_ARGS="$ARGS" >/dev/null; python3 -c "import sys,time; print(round(time.time()-float(sys.argv[1]),1))" "$t0"; }

for i in "${images[@]}"; do docker rmi -f "$(docker image inspect --format '{{.Id}}' "lpbake/$i:latest")" >/dev/null; done
cold="$(timed)"
docker compose down -v >/dev/null 2>&1
warm="$(timed)"
docker compose down -v >/dev/null 2>&1
echo "make up to all healthy: cold (images removed by id) ${cold}s, warm (images loaded) ${warm}s, cold/warm $(python3 -c "print(round($cold/$warm,2))")"

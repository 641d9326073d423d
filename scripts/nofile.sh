#!/usr/bin/env bash
# nofile.sh: the open-file limit `make up` gives the testnet's containers (LPBAKE_NOFILE in
# compose.yaml), checked against what the Docker engine can grant before anything starts: runc
# cannot raise a container's limit above the engine's own hard limit, and `docker compose up`
# then fails with "error setting rlimit type 7: operation not permitted". Prints the limit.
#   LPBAKE_NOFILE unset: 65536 (what the appliance's units set) when the engine grants it, else
#                        the engine's hard limit, with a warning saying how to raise it.
#   LPBAKE_NOFILE=N:     N when the engine grants it, else a stop with the exact fix.
# Probes run from an image `lpbake build --load` just loaded (IMAGE, default lpbake/livepeer),
# with no network.
set -euo pipefail

want="${LPBAKE_NOFILE:-65536}"
image="${IMAGE:-lpbake/livepeer:latest}"
case "$want" in
  ''|*[!0-9]*) echo "make up: error: LPBAKE_NOFILE=$want is not a number of files" >&2
               echo "  fix: unset it, or set a number such as 65536" >&2; exit 1 ;;
esac
raise="raise the engine's limit (systemd: \`systemctl edit docker\`, add [Service] LimitNOFILE=1048576, then \`systemctl restart docker\`)"
probe() { docker run --rm --pull never --network none --entrypoint /bin/sh "$@" "$image" -c 'ulimit -Hn' 2>&1; }

if probe --ulimit "nofile=$want:$want" >/dev/null; then
  echo "$want"
  exit 0
fi
max="$(probe)" || { echo "make up: error: cannot start a probe container from $image: $max" >&2
                    echo "  fix: build and load the images first (lpbake build --load), and check the engine (docker info)" >&2; exit 1; }
if ! [[ "$max" =~ ^[0-9]+$ ]] || [ "$max" -ge "$want" ]; then
  echo "make up: error: the engine refused a container with $want open files, and grants $max by default" >&2
  echo "  fix: run \`docker run --rm --pull never --ulimit nofile=$want:$want $image -version\` to see why" >&2
  exit 1
fi
if [ -n "${LPBAKE_NOFILE:-}" ]; then
  echo "make up: error: the Docker engine grants at most $max open files per container, not LPBAKE_NOFILE=$want" >&2
  echo "  fix: set LPBAKE_NOFILE=$max (or lower), or $raise" >&2
  exit 1
fi
echo "make up: warning: the Docker engine grants at most $max open files per container, so the testnet runs with $max instead of 65536 (LPBAKE_NOFILE); to give it 65536, $raise" >&2
echo "$max"

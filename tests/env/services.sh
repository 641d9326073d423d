#!/usr/bin/env bash
# services.sh: starts / stops the two daemons the tests use, in the background, without systemd.
#
#   tests/env/services.sh start    dockerd (unless a Docker engine already answers) and a
#                                  loopback-only registry on 127.0.0.1:5000; idempotent
#   tests/env/services.sh stop     stops the ones this script started (by their pid files)
#   tests/env/services.sh status   says what answers
#
# Logs and pid files live in $LPBAKE_DEPS/run ($HOME/.cache/lpbake-deps/run); registry storage in
# $LPBAKE_DEPS/registry. Waits are bounded: 60 s for dockerd, 30 s for the registry.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tests/env/paths.sh
. "$here/paths.sh"

RUN_DIR="$LPBAKE_DEPS/run"
REGISTRY_DIR="$LPBAKE_DEPS/registry"
REGISTRY_CONFIG="$here/registry.yml"
REGISTRY_URL="http://127.0.0.1:5000/v2/"
DOCKERD_WAIT=60
REGISTRY_WAIT=30

say() { printf 'services: %s\n' "$*" >&2; }
die() { printf 'services: error: %s\n' "$*" >&2; exit 1; }

docker_up() { timeout 10 docker info >/dev/null 2>&1; }
registry_up() { curl -sf --max-time 5 "$REGISTRY_URL" >/dev/null 2>&1; }

# pid from a pid file if that process is still alive, else nothing.
live_pid() {
    local f="$1" pid
    [ -f "$f" ] || return 1
    pid="$(cat "$f" 2>/dev/null || true)"
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && { printf '%s\n' "$pid"; return 0; }
    return 1
}

# wait_for NAME SECONDS PIDFILE LOG CHECK...: polls CHECK until it succeeds, the process dies or time runs out.
wait_for() {
    local name="$1" secs="$2" pidfile="$3" log="$4"
    shift 4
    local deadline=$((SECONDS + secs))
    until "$@"; do
        if ! live_pid "$pidfile" >/dev/null; then
            say "$name exited during start-up; last lines of $log:"
            tail -n 30 "$log" >&2 || true
            die "$name did not start"
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            say "$name did not answer within ${secs}s; last lines of $log:"
            tail -n 30 "$log" >&2 || true
            die "$name did not start in time"
        fi
        sleep 1
    done
}

# start_daemon NAME UP_FN WAIT_SECS CMD...: unless UP_FN already answers, start CMD in the
# background (setsid, all fds redirected: it outlives this script and holds no terminal or pipe),
# record its pid in $RUN_DIR/NAME.pid, log to $RUN_DIR/NAME.log, and wait until UP_FN answers.
start_daemon() {
    local name="$1" up="$2" secs="$3" pid
    shift 3
    local pidfile="$RUN_DIR/$name.pid" log="$RUN_DIR/$name.log"
    if "$up"; then
        say "$name: already answering"
        return 0
    fi
    if pid="$(live_pid "$pidfile")"; then
        say "$name: pid $pid running but not answering yet; waiting"
    else
        say "$name: starting $* (log: $log)"
        setsid "$@" >"$log" 2>&1 </dev/null &
        echo $! >"$pidfile"
    fi
    wait_for "$name" "$secs" "$pidfile" "$log" "$up"
}

start_dockerd() {
    command -v dockerd >/dev/null 2>&1 || die "dockerd not found: run 'make deps' (apt-get install docker.io)"
    docker_up || [ "$(id -u)" -eq 0 ] || die "dockerd must be started as root"
    start_daemon dockerd docker_up "$DOCKERD_WAIT" dockerd
    say "dockerd: up ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))"
}

start_registry() {
    command -v docker-registry >/dev/null 2>&1 ||
        die "docker-registry not found: run 'make deps' (apt-get install docker-registry)"
    mkdir -p "$REGISTRY_DIR"
    REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY="$REGISTRY_DIR" \
        start_daemon registry registry_up "$REGISTRY_WAIT" docker-registry serve "$REGISTRY_CONFIG"
    say "registry: up at $REGISTRY_URL (storage $REGISTRY_DIR)"
}

# stop_one NAME PIDFILE: TERM, wait up to 30 s, then KILL; only the pid this script recorded.
stop_one() {
    local name="$1" pidfile="$2" pid
    if ! pid="$(live_pid "$pidfile")"; then
        rm -f "$pidfile"
        say "$name: not started by this script (no live pid file); leaving it alone"
        return 0
    fi
    say "$name: stopping pid $pid"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 1
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "$name: still running after 30 s; sending KILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
    say "$name: stopped"
}

cmd="${1:-}"
mkdir -p "$RUN_DIR"
case "$cmd" in
    start)
        start_dockerd
        start_registry
        ;;
    stop)
        stop_one registry "$RUN_DIR/registry.pid"
        stop_one dockerd "$RUN_DIR/dockerd.pid"
        ;;
    status)
        rc=0
        if docker_up; then say "docker engine: up"; else say "docker engine: down"; rc=1; fi
        if registry_up; then say "registry: up at $REGISTRY_URL"; else say "registry: down"; rc=1; fi
        exit "$rc"
        ;;
    *)
        echo "usage: $0 start|stop|status" >&2
        exit 2
        ;;
esac

#!/bin/bash
# report.sh: the probe inside a test disk (added by probe_disk in builder/tests/common/qemu.rs, for
# the VM test and the boot bench; never in a product image). It looks at the booted node from inside and
# writes what it finds, one line each, to /dev/ttyS1, which qemu writes to a file the test reads:
#   FACT <name> <value>     a measurement; the test decides what is right
#   TEXT <name> <line>      a line of command output (unit status, nft ruleset)
#   DONE                    no more facts; the outside checks may start (the guest journal follows)
# Every wait is bounded. The password is only ever read by grep from its file (-f), so it is in no
# command line or environment of this script either.
set -u
exec 3>/dev/ttyS1
fact() { printf 'FACT %s %s\n' "$1" "$2" >&3; }
text() { local name=$1; while IFS= read -r line; do printf 'TEXT %s %s\n' "$name" "$line" >&3; done; }
uptime_ms() { awk '{ printf "%d", $1 * 1000 }' /proc/uptime; }
healthz() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 http://127.0.0.1:7936/healthz; }

fact started_ms "$(uptime_ms)"
# The boot transaction (with the data volume's mount or its timeout) is over.
timeout 300 systemctl is-system-running --wait >/dev/null 2>&1
fact boot_done_ms "$(uptime_ms)"
# The node with its data volume: healthy is lpwatch's /healthz answering 200 (bounded: 180 s under
# emulation). Waited for first, so that nothing this probe runs delays it (the boot bench's mark).
if systemctl cat livepeer.service >/dev/null 2>&1 && mountpoint -q /var/lib/livepeer; then
    for _ in $(seq 1 360); do
        [ "$(healthz)" = 200 ] && break
        sleep 0.5
    done
    fact healthz "$(healthz)"
    fact healthy_ms "$(uptime_ms)"
fi
fact system_state "$(systemctl is-system-running)"
# Where the boot's time went (the boot bench prints it).
SYSTEMD_COLORS=0 systemd-analyze critical-chain lpbake-probe.service 2>&1 | text critical_chain

for unit in livepeer lpwatch chrony nftables; do
    fact "active_$unit" "$(systemctl is-active "$unit.service")"
done
if mountpoint -q /var/lib/livepeer; then fact data_mounted yes; else fact data_mounted no; fi
# After DONE: the journal as it goes on, into the report file (the host has stopped reading: it is
# for whoever looks at a shutdown that hangs), until the VM powers off (bounded: 300 s).
done_then_follow() {
    echo DONE >&3
    timeout 300 journalctl -f -n 0 -o short-monotonic >&3 2>&1
    exit 0
}
# A bare base (the boot bench's baseline) has no node: nothing more to look at.
if ! systemctl cat livepeer.service >/dev/null 2>&1; then
    done_then_follow
fi
systemctl show livepeer.service -p ActiveState -p SubState -p Result -p ConditionResult -p AssertResult | text livepeer_show
# Its status, once the journal holds why it is not running (bounded: 30 s).
for _ in $(seq 1 60); do
    systemctl is-active -q livepeer.service && break
    SYSTEMD_COLORS=0 systemctl status livepeer.service --no-pager -l -n 20 2>&1 | grep -q 'Dependency failed' && break
    sleep 0.5
done
SYSTEMD_COLORS=0 systemctl status livepeer.service --no-pager -l -n 20 2>&1 | text livepeer_status
nft list ruleset 2>&1 | text nft

if ! mountpoint -q /var/lib/livepeer; then
    # Nothing may have been written to the root disk where the volume belongs.
    fact root_var_lib_livepeer_entries "$(find /var/lib/livepeer -mindepth 1 2>/dev/null | wc -l)"
    done_then_follow
fi

fact eth_addr "$(curl -s --max-time 5 http://127.0.0.1:7935/ethAddr)"

pid=$(systemctl show -p MainPID --value livepeer.service)
fact livepeer_pid "$pid"
fact livepeer_exe "$(readlink "/proc/$pid/exe")"
fact livepeer_nofile "$(awk '/^Max open files/ { print $4 "/" $5 }' "/proc/$pid/limits")"
fact livepeer_user "$(stat -c %U "/proc/$pid")"
pw=/var/lib/livepeer/credentials/eth-password
# Files under /proc that hold the password (command lines and environments of every process).
leaks=$(grep -l -a -F -f "$pw" /proc/[0-9]*/cmdline /proc/[0-9]*/environ 2>/dev/null | wc -l)
fact password_in_proc "$leaks"
# The credential as livepeer sees it: a file under /run/credentials, not readable by others.
fact credential_mode "$(stat -c %a /run/credentials/livepeer.service/eth-password 2>&1)"

# kill -9 of livepeer: a new process answers and lpwatch is healthy again within 10 s.
t0=$(uptime_ms)
kill -9 "$pid"
recovered=none
for _ in $(seq 1 100); do
    now=$(systemctl show -p MainPID --value livepeer.service)
    if [ "$now" != 0 ] && [ "$now" != "$pid" ] &&
        curl -s -o /dev/null --max-time 1 http://127.0.0.1:7935/status && [ "$(healthz)" = 200 ]; then
        recovered=$(($(uptime_ms) - t0))
        break
    fi
    sleep 0.1
done
fact recovered_ms "$recovered"
fact livepeer_pid_after "$(systemctl show -p MainPID --value livepeer.service)"
journalctl -b -o short-monotonic -u lpwatch.service -u livepeer.service --no-pager 2>&1 | head -60 | text startup_journal
done_then_follow

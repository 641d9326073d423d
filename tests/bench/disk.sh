#!/usr/bin/env bash
# Appliance disk bench, side by side in one run on the offline fixtures (needs `make deps fixtures`):
#   1. `lpbake build --target disk` into an empty output, inputs already in the cache (the base
#      root filesystem unpacked once before, as on any rebuild), against its floor: `mke2fs -d` of
#      the same root tree (unpacked from the build's rootfs.tar beforehand, not timed) plus the
#      sha256 of the result.
#   2. the default build (images and disk) into an empty output, then the same build again: the
#      second is a no-op, shown as its time and the bytes it wrote (GNU time's file-system
#      outputs, 512-byte blocks) against the first's.
#   3. boot-to-healthy of the appliance (lpwatch's /healthz answers 200) against boot-to-multi-user
#      of its bare base under the same qemu, medians of three alternating rounds
#      (builder/examples/boot_bench.rs).
# Ratios, not absolute times, are what compare across machines. Goals: 1.5x and 1.2x.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
. tests/env/paths.sh
# The profile `make test` builds (release optimisation without LTO): already built after a test run.
cargo build --quiet --profile ci --workspace --examples
lpbake="$root/target/ci/lpbake"
mirror="$LPBAKE_TEST_MIRROR"
lock="$LPBAKE_TEST_LOCK"
[ -f "$lock" ] || { echo "bench: no fixtures: run 'make deps fixtures'" >&2; exit 1; }
work="$(mktemp -d "$root/target/lpbake-disk-bench.XXXXXX")"  # in the workspace: lpwatch is built from it
trap 'rm -rf "$work"' EXIT

secs() {
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >/dev/null 2>&1 || { echo "bench: failed: $*" >&2; return 1; }
  t1=$(date +%s.%N)
  awk "BEGIN { print $t1 - $t0 }"
}
ratio() { awk "BEGIN { printf \"%.2f\", $1 / $2 }"; }
# The VM test's node (tests/vm/appliance.toml): the product's node fit for a network that reaches
# no chain, so that lpwatch can become healthy in the VM.
mkdir "$work/spec"
find images -maxdepth 1 -name '*.toml' ! -name appliance.toml -exec cp {} "$work/spec/" \;
cp tests/vm/appliance.toml "$work/spec/"
build() { LPBAKE_CACHE_DIR="$work/cache" "$lpbake" -q build --target disk --spec "$work/spec" --offline --mirror "$mirror" --lock "$lock" --out "$1"; }

echo "== lpbake disk bench ($(nproc) cores) =="
cold=$(secs build "$work/A")            # fetches, unpacks and remembers the base, builds lpwatch
disk=$(secs build "$work/B")            # the same disk into an empty output: what a rebuild costs
cmp -s "$work/A/disk/disk.raw" "$work/B/disk/disk.raw" || { echo "bench: the two disks differ" >&2; exit 1; }

# Floor: the same tree, unpacked as root (owners, devices), through mke2fs -d, then sha256.
mkdir "$work/tree"
tar -C "$work/tree" --numeric-owner --xattrs --xattrs-include='*' -xpf "$work/B/disk/rootfs.tar"
size=$(( $(du -sb "$work/tree" | cut -f1) * 5 / 4 + (512 << 20) ))
floor() {
  rm -f "$work/floor.ext4"
  E2FSPROGS_FAKE_TIME=1700000000 mke2fs -q -F -t ext4 -d "$work/tree" -L lpbake-root "$work/floor.ext4" "$(( size / 1024 ))k"
  sha256sum "$work/floor.ext4"
}
floor_s=$(secs floor)
printf 'disk build (empty output, warm inputs): %.2f s   first build: %.2f s\n' "$disk" "$cold"
printf 'floor (mke2fs -d + sha256 of the same tree): %.2f s\n' "$floor_s"
echo "ratio disk build / floor: $(ratio "$disk" "$floor_s")x (goal <= 1.5x)"

# The default build twice into one output: the second writes nothing.
io() {
  /usr/bin/time -f '%e %O' -o "$work/io.time" env LPBAKE_CACHE_DIR="$work/cache" "$lpbake" -q build --spec "$work/spec" \
    --offline --mirror "$mirror" --lock "$lock" --out "$1" >/dev/null 2>&1 || { echo "bench: build into $1 failed" >&2; exit 1; }
  cat "$work/io.time"
}
read -r first_s first_blocks < <(io "$work/C")
read -r second_s second_blocks < <(io "$work/C")
printf 'default build, empty output: %.2f s, %d KiB written; the same again: %.2f s, %d KiB written\n' \
  "$first_s" $((first_blocks / 2)) "$second_s" $((second_blocks / 2))
echo "ratio second / first build: $(ratio "$second_s" "$first_s")x time, $(ratio "$second_blocks" "$((first_blocks + 1))")x bytes written (a no-op: nothing written)"

# Boot: the appliance's rootfs and the bare base, each with the same probe, under the same qemu.
base_sha=$(python3 - "$lock" <<'PY'
import sys, tomllib
lock = tomllib.load(open(sys.argv[1], "rb"))
print(next(f["sha256"] for f in lock.get("file", []) if f["url"].endswith("-root.tar.xz")))
PY
)
"$root/target/ci/examples/boot_bench" "$work/B/disk/rootfs.tar" "$mirror/blobs/sha256/$base_sha" "$work/boot"

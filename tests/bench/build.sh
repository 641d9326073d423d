#!/usr/bin/env bash
# lpbake build bench, measured side by side in one run on the offline fixtures: cold build, warm
# no-op rebuild, rebuild after one changed config value, `docker build` of the same image set from
# an equivalent Dockerfile, two floors for the same layer bytes (gzip -n + sha256 on one core;
# pigz -n -p $(nproc) + sha256 on all of them), peak RSS; then `lpbake load` vs `docker load` of
# the same archive, each timed after the image is removed by id; and `lpbake push` vs
# `skopeo copy`, each into its own empty registry. Needs `make deps fixtures`.
#
# The build side times the three images that have upstream archives (livepeer, geth, ffmpeg), so
# its numbers compare with earlier runs; images built from this workspace (lpwatch) compile with
# cargo and are timed on their own line.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
. tests/env/paths.sh
cargo build --quiet --release --workspace  # the same feature set as `make test`: nothing recompiles
lpbake="$root/target/release/lpbake"
mirror="$LPBAKE_TEST_MIRROR"
lock="$LPBAKE_TEST_LOCK"
registry="$LPBAKE_TEST_REGISTRY"
base="$registry/lpbake-fixtures/debian:bookworm-slim"
[ -f "$lock" ] || { echo "bench: no fixtures: run 'make deps fixtures'" >&2; exit 1; }
work="$(mktemp -d /tmp/lpbake-bench.XXXXXX)"
trap 'rm -rf "$work"' EXIT
run_id="$(basename "$work" | tr 'A-Z.' 'a-z-')"

# secs CMD...: wall seconds of CMD (its output discarded).
# A command that fails stops the bench: a failed step would otherwise time as fast.
secs() {
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >/dev/null 2>&1 || { echo "bench: failed: $*" >&2; return 1; }
  t1=$(date +%s.%N)
  calc "$t1 - $t0"
}
calc() { awk "BEGIN { print $1 }"; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { awk "BEGIN { printf \"%.2f\", $1 / $2 }"; }
fmt() { printf '%.3f' "$1"; }
images=(--image livepeer --image geth --image ffmpeg)
build() { LPBAKE_CACHE_DIR="$work/cache" "$lpbake" -q build --offline --mirror "$mirror" --lock "$lock" "${images[@]}" "$@"; }

echo "== lpbake build bench ($(nproc) cores) =="
# Cold: empty cache, empty output. Peak RSS from GNU time.
/usr/bin/time -f '%e %M' -o "$work/cold.time" env LPBAKE_CACHE_DIR="$work/cache" "$lpbake" -q build --offline --mirror "$mirror" --lock "$lock" "${images[@]}" --out "$work/A"
read -r cold cold_rss < "$work/cold.time"

# Warm no-op: nothing changed (median of 5).
warm=$(for _ in 1 2 3 4 5; do secs build --out "$work/A"; done | median)
/usr/bin/time -f '%M' -o "$work/warm.rss" env LPBAKE_CACHE_DIR="$work/cache" "$lpbake" -q build --offline --mirror "$mirror" --lock "$lock" "${images[@]}" --out "$work/A"

# One changed config value: an env var of the livepeer image.
cp -r images "$work/spec"
sed -i 's/^HOME = "\/var\/lib\/livepeer"/HOME = "\/var\/lib\/livepeer"\nLP_BENCH = "1"/' "$work/spec/livepeer.toml"
changed=$(secs build --spec "$work/spec" --out "$work/A")
/usr/bin/time -f '%M' -o "$work/changed.rss" env LPBAKE_CACHE_DIR="$work/cache" "$lpbake" -q build --offline --mirror "$mirror" --lock "$lock" "${images[@]}" --out "$work/A"

# Floors: gzip -n (one core) and pigz -n -p $(nproc) (every core), each piped into sha256sum, of
# exactly the layer bytes lpbake compressed (each distinct layer once, read from a warm page cache).
floor=0
pfloor=0
for d in $(jq -r '[.[] | .layers[1:][]] | unique | .[]' "$work/A/images.json"); do
  hex="${d#sha256:}"
  zcat "$work/cache/blobs/sha256/$hex" > "$work/layer.tar"
  t=$(secs bash -o pipefail -c "gzip -n < '$work/layer.tar' | sha256sum")
  floor=$(calc "$floor + $t")
  t=$(secs bash -o pipefail -c "pigz -n -p $(nproc) < '$work/layer.tar' | sha256sum")
  pfloor=$(calc "$pfloor + $t")
done
rm -f "$work/layer.tar"

# An image built from this workspace (cargo is its cache: a warm cargo target, as in development).
ws=""
if [ -f images/lpwatch.toml ]; then
  LPBAKE_CACHE_DIR="$work/cache" "$lpbake" -q build --offline --mirror "$mirror" --lock "$lock" --image lpwatch --out "$work/W" >/dev/null 2>&1
  ws_cold=$(secs env LPBAKE_CACHE_DIR="$work/cache-ws" "$lpbake" -q build --offline --mirror "$mirror" --lock "$lock" --image lpwatch --out "$work/W2")
  ws_warm=$(for _ in 1 2 3 4 5; do secs env LPBAKE_CACHE_DIR="$work/cache-ws" "$lpbake" -q build --offline --mirror "$mirror" --lock "$lock" --image lpwatch --out "$work/W2"; done | median)
  ws="yes"
fi

# docker build of the same three images from equivalent Dockerfiles, cold (--no-cache).
docker pull -q "$base" >/dev/null
blob() { # blob NAME: the pinned sha256 of the source whose URL ends in NAME
  python3 - "$lock" "$1" <<'PY'
import sys, tomllib
lock = tomllib.load(open(sys.argv[1], "rb"))
print(next(f["sha256"] for f in lock["file"] if f["url"].endswith("/" + sys.argv[2])))
PY
}
mkctx() { # mkctx NAME ARCHIVE: a build context holding the archive under its upstream name
  mkdir -p "$work/docker/$1"
  ln "$mirror/blobs/sha256/$(blob "$2")" "$work/docker/$1/$2" 2>/dev/null || cp "$mirror/blobs/sha256/$(blob "$2")" "$work/docker/$1/$2"
}
ff=ffmpeg-n9.0.2-17-g2a571b6068-linux64-gpl-9.0
gv=geth-linux-amd64-1.17.7-3d858f85
mkctx ffmpeg "$ff.tar.xz"
mkctx geth "$gv.tar.gz"
mkctx livepeer livepeer-linux-amd64.tar.gz
cp "$work/docker/ffmpeg/$ff.tar.xz" "$work/docker/livepeer/"
cat > "$work/docker/ffmpeg/Dockerfile" <<DOCKER
FROM $base AS src
ADD $ff.tar.xz /src/
FROM $base
COPY --from=src /src/$ff/bin/ffmpeg /usr/local/bin/ffmpeg
RUN mkdir -p /work && chown 65532:65532 /work && chmod 0750 /work
USER 65532:65532
WORKDIR /work
VOLUME /work
ENTRYPOINT ["/usr/local/bin/ffmpeg"]
DOCKER
cat > "$work/docker/geth/Dockerfile" <<DOCKER
FROM $base AS src
ADD $gv.tar.gz /src/
FROM $base
COPY --from=src /src/$gv/geth /usr/local/bin/geth
RUN mkdir -p /var/lib/geth && chown 65532:65532 /var/lib/geth && chmod 0750 /var/lib/geth
USER 65532:65532
ENV HOME=/var/lib/geth
WORKDIR /var/lib/geth
VOLUME /var/lib/geth
EXPOSE 30303/tcp 30303/udp
ENTRYPOINT ["/usr/local/bin/geth"]
CMD ["--datadir", "/var/lib/geth"]
DOCKER
cat > "$work/docker/livepeer/Dockerfile" <<DOCKER
FROM $base AS src
ADD livepeer-linux-amd64.tar.gz /src/
ADD $ff.tar.xz /src/
FROM $base
COPY --from=src /src/livepeer-linux-amd64/livepeer /src/livepeer-linux-amd64/livepeer_cli /usr/local/bin/
COPY --from=src /src/$ff/bin/ffmpeg /usr/local/bin/ffmpeg
RUN mkdir -p /var/lib/livepeer && chown 65532:65532 /var/lib/livepeer && chmod 0750 /var/lib/livepeer
USER 65532:65532
ENV HOME=/var/lib/livepeer
WORKDIR /var/lib/livepeer
VOLUME /var/lib/livepeer
EXPOSE 8935/tcp
ENTRYPOINT ["/usr/local/bin/livepeer"]
CMD ["-network", "offchain", "-dataDir", "/var/lib/livepeer"]
DOCKER
dbuild=0
for img in ffmpeg geth livepeer; do
  t=$(secs docker build --no-cache -q -t "lpbake-bench/$img:$run_id" "$work/docker/$img")
  dbuild=$(calc "$dbuild + $t")
done
docker rmi -f "lpbake-bench/ffmpeg:$run_id" "lpbake-bench/geth:$run_id" "lpbake-bench/livepeer:$run_id" >/dev/null 2>&1 || true

printf '%-44s %10s\n' "cold build (3 images)" "$(fmt "$cold") s"
printf '%-44s %10s\n' "warm no-op rebuild (median of 5)" "$(fmt "$warm") s"
printf '%-44s %10s\n' "rebuild after one changed config value" "$(fmt "$changed") s"
printf '%-44s %10s\n' "docker build --no-cache, same images" "$(fmt "$dbuild") s"
printf '%-44s %10s\n' "floor: gzip -n | sha256sum of our layers" "$(fmt "$floor") s"
printf '%-44s %10s\n' "parallel floor: pigz -n -p $(nproc) | sha256sum" "$(fmt "$pfloor") s"
printf '%-44s %10s\n' "peak RSS cold / warm / changed" "$((cold_rss / 1024)) / $(($(cat "$work/warm.rss") / 1024)) / $(($(cat "$work/changed.rss") / 1024)) MiB"
printf '%-44s %10s   (target <= 1.30)\n' "cold / floor" "$(ratio "$cold" "$floor")x"
printf '%-44s %10s   (target <= 1.10)\n' "cold / parallel floor" "$(ratio "$cold" "$pfloor")x"
printf '%-44s %10s   (target >= 3)\n' "docker build / cold" "$(ratio "$dbuild" "$cold")x"
if [ -n "$ws" ]; then
  printf '%-44s %10s\n' "lpwatch image, empty lpbake cache (cargo warm)" "$(fmt "$ws_cold") s"
  printf '%-44s %10s\n' "lpwatch image, warm no-op (median of 5)" "$(fmt "$ws_warm") s"
fi

echo "== engine and registry (livepeer image, $(du -h "$work/A/livepeer.docker.tar" | cut -f1)) =="
# Like with like: before each side is timed the image is removed by its id (the config digest),
# not just untagged, so both loads write the same layers into the same engine state.
id="$(jq -r '.livepeer.config' "$work/A/images.json")"
unload() {
  docker rmi -f "$id" >/dev/null 2>&1 || true
  if docker image inspect "$id" >/dev/null 2>&1; then echo "bench: image $id still in the engine" >&2; exit 1; fi
}
unload; lp_load=$(secs "$lpbake" -q load --out "$work/A" livepeer)
unload; d_load=$(secs docker load -i "$work/A/livepeer.docker.tar")
printf '%-44s %10s\n' "lpbake load" "$(fmt "$lp_load") s"
printf '%-44s %10s\n' "docker load (same archive)" "$(fmt "$d_load") s"
printf '%-44s %10s\n' "lpbake load / docker load" "$(ratio "$lp_load" "$d_load")x"
# Each push goes to its own fresh registry (empty storage), so neither finds blobs the other sent.
fresh_registry() { # fresh_registry PORT: a throwaway loopback registry; prints its pid
  mkdir -p "$work/registry-$1"
  REGISTRY_HTTP_ADDR="127.0.0.1:$1" REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY="$work/registry-$1" \
    docker-registry serve tests/env/registry.yml >"$work/registry-$1.log" 2>&1 &
  echo $!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$1/v2/" >/dev/null && return; sleep 0.1; done
  echo "bench: registry on 127.0.0.1:$1 did not start (see $work/registry-$1.log)" >&2; exit 1
}
reg1=$(fresh_registry 5101); reg2=$(fresh_registry 5102)
lp_push=$(secs "$lpbake" -q push --out "$work/A" --insecure "127.0.0.1:5101/bench" livepeer)
sk_push=$(secs env HOME="$work/skopeo-home" skopeo copy --dest-tls-verify=false "oci:$work/A/oci/livepeer" "docker://127.0.0.1:5102/bench/livepeer:x")
kill "$reg1" "$reg2"
printf '%-44s %10s\n' "lpbake push (empty registry)" "$(fmt "$lp_push") s"
printf '%-44s %10s\n' "skopeo copy (empty registry)" "$(fmt "$sk_push") s"
printf '%-44s %10s\n' "lpbake push / skopeo copy" "$(ratio "$lp_push" "$sk_push")x"

#!/usr/bin/env bash
# Benchmark: publish 6 platforms of ~40 MB provider binaries to Ceph RGW with
# Relay, against the plain pipeline (tar -xzf, zip, sha256sum, gpg
# --detach-sign, upload) in the same run. See bench/README.md.
#
#   bash bench/publish.sh [runs]
#
# Env: BENCH_RUNS (3) runs per side, alternating which goes first;
#      BENCH_SIZE_MB (40) binary size; BENCH_BIG (1) also run Relay once on
#      binaries twice that size to show its peak RSS does not grow with them;
#      BENCH_SEED (relay-bench); BENCH_TMP (/tmp) where the work dir goes;
#      BENCH_NODE (node) the Node for both sides; BENCH_UPLOAD_CONCURRENCY (1)
#      files in flight in the peer's upload script; BENCH_TIMEOUT (900) seconds
#      one side's run may take before it counts as hung.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

RUNS=${1:-${BENCH_RUNS:-3}}
SIZE_MB=${BENCH_SIZE_MB:-40}
BIG=${BENCH_BIG:-1}
SEED=${BENCH_SEED:-relay-bench}
NODE=${BENCH_NODE:-node}
ENDPOINT=http://127.0.0.1:${RELAY_TEST_RGW_PORT:-7480}
export BENCH_S3_ENDPOINT=$ENDPOINT
TIMEOUT=${BENCH_TIMEOUT:-900}
PLATFORMS="linux_amd64 linux_arm64 darwin_amd64 darwin_arm64 windows_amd64 freebsd_amd64"
NAME=bench VERSION=1.0.0
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || { echo "publish.sh: runs must be a positive integer, got '$RUNS'" >&2; exit 2; }
[[ $SIZE_MB =~ ^[1-9][0-9]*$ ]] || { echo "publish.sh: BENCH_SIZE_MB must be a positive integer" >&2; exit 2; }

t0=$(date +%s)
log() { printf '[bench %4ds] %s\n' $(($(date +%s) - t0)) "$*" >&2; }
die() { echo "publish.sh: $*" >&2; exit 1; }
why() { if [ "$1" = 124 ]; then echo " (timed out after ${TIMEOUT}s)"; else echo " (exit $1)"; fi; }
s3() { timeout 300 "$NODE" --no-warnings bench/s3.mjs "$@"; }

# --- tools --------------------------------------------------------------------
need=()
[ -x /usr/bin/time ] || need+=(time)
for b in zip:zip gpg:gnupg curl:curl tar:tar gzip:gzip sha256sum:coreutils; do
  command -v "${b%%:*}" >/dev/null 2>&1 || need+=("${b##*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  log "installing: ${need[*]}"
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
[ -d node_modules/@aws-sdk/client-s3 ] || die "node_modules/@aws-sdk/client-s3 is missing: run 'pnpm install' at the repository root first"

# --- clean-up, whatever happens ----------------------------------------------
WORK=$(mktemp -d "${BENCH_TMP:-/tmp}/relay-bench.XXXXXX")
BUCKETS=()
STARTED_RGW=0
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ ${#BUCKETS[@]} -gt 0 ] && [ "$STARTED_RGW" = 0 ]; then
    s3 rmbucket "${BUCKETS[@]}" >/dev/null 2>&1 && rgw_gc || true
  fi
  [ -d "$WORK/gnupg" ] && GNUPGHOME=$WORK/gnupg gpgconf --kill gpg-agent >/dev/null 2>&1 || true
  rm -rf "$WORK"
  if [ "$STARTED_RGW" = 1 ]; then bash scripts/servers/rgw.sh stop >/dev/null 2>&1 || true; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the Relay under test: a snapshot of the CLI bundle ---------------------------
# Others may rebuild dist while this runs: copy it once, so every
# run measures the same bytes. BENCH_RELAY_REF=<git ref> takes a committed one.
CLI=$WORK/relay-cli/cli.js
mkdir -p "$WORK/relay-cli"
for try in $(seq 1 30); do
  rm -rf "$WORK/relay-cli" && mkdir -p "$WORK/relay-cli"
  if [ -n "${BENCH_RELAY_REF:-}" ]; then
    git archive "$BENCH_RELAY_REF" dist | tar -x -C "$WORK/relay-cli" --strip-components=1
  else
    cp -r dist/. "$WORK/relay-cli/" 2>/dev/null || true
  fi
  "$NODE" --no-warnings "$CLI" publish-terraform-registry --help >/dev/null 2>&1 && break
  [ "$try" = 30 ] && die "no working CLI bundle at dist/cli.js (is someone rebuilding it?)"
  sleep 1
done
CLI_SHA=$(sha256sum "$CLI" | cut -c1-12)
if [ -n "${BENCH_RELAY_REF:-}" ]; then CLI_FROM="$BENCH_RELAY_REF:dist"
elif git diff --quiet HEAD -- dist 2>/dev/null; then CLI_FROM="dist (as committed)"
else CLI_FROM="dist (uncommitted changes)"; fi
log "relay under test: $CLI_FROM, cli.js sha256 $CLI_SHA"

# --- Ceph RGW -----------------------------------------------------------------
if curl -sf -o /dev/null --max-time 5 "$ENDPOINT/"; then
  log "using the RGW already running on $ENDPOINT (fresh buckets; left running)"
else
  log "starting Ceph RGW (scripts/servers/rgw.sh; stopped again at the end)"
  STARTED_RGW=1
  bash scripts/servers/rgw.sh start >&2
fi
RUN_ID=$(date +%H%M%S)-$$
fresh_bucket() { # name -> BUCKET; registered for clean-up before it exists
  BUCKET=bench-$1-$RUN_ID
  BUCKETS+=("$BUCKET")
  s3 mkbucket "$BUCKET"
}
drop_bucket() { # free the RAM-backed OSD between runs (other tests share it)
  s3 rmbucket "$1" || log "warning: could not delete bucket $1"
  rgw_gc
}

# The test cluster's OSD keeps objects in RAM (memstore, 2 GiB) and RGW frees
# a deleted object's data only in its garbage collection, hours later by
# default: without a forced GC a few runs fill the OSD, and then every write
# to RGW (ours and other people's tests) hangs. When the cluster is the one
# scripts/servers/rgw.sh runs (its ceph.conf is readable), collect after each
# delete, and refuse to start a run that would not fit.
CEPH_CONF_FILE=${RELAY_TEST_DIR:-/tmp/relay-test}/ceph/ceph.conf
rgw_gc() {
  [ -r "$CEPH_CONF_FILE" ] && command -v radosgw-admin >/dev/null 2>&1 || return 0
  CEPH_CONF=$CEPH_CONF_FILE timeout 120 radosgw-admin gc process --include-all >/dev/null 2>&1 ||
    log "warning: 'radosgw-admin gc process' failed; deleted objects still hold OSD memory"
}
osd_usable_mb() { # MB that can still be written before the OSD's full ratio (0.95); -1 if unknown
  [ -r "$CEPH_CONF_FILE" ] && command -v ceph >/dev/null 2>&1 || { echo -1; return; }
  CEPH_CONF=$CEPH_CONF_FILE timeout 20 ceph daemon osd.0 perf dump 2>/dev/null | "$NODE" -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      try { const o = JSON.parse(s).osd; console.log(Math.floor((o.stat_bytes_avail - 0.05 * o.stat_bytes) / 1048576)); }
      catch { console.log(-1); }
    });' || echo -1
}
ensure_room() { # MB the next run writes
  local need=$(($1 + 100)) have
  have=$(osd_usable_mb)
  [ "$have" -lt 0 ] || [ "$have" -ge "$need" ] && return 0
  rgw_gc; have=$(osd_usable_mb)
  [ "$have" -lt 0 ] || [ "$have" -ge "$need" ] ||
    die "RGW's OSD has $have MB left before it is full and this run needs ~$need MB; not starting (a full OSD blocks every writer). Free it: radosgw-admin gc process --include-all, or restart RGW"
}

# --- inputs (once) --------------------------------------------------------------
gen_tarballs() { # dir size_bytes seed-suffix
  local dir=$1 bytes=$2 sfx=$3
  mkdir -p "$dir"
  for p in $PLATFORMS; do echo "$p"; done | xargs -P 2 -I{} bash -c '
    set -euo pipefail
    p={} dir=$0 bytes=$1 seed=$2 node=$3
    os=${p%_*} arch=${p#*_}; ext=""; [ "$os" = windows ] && ext=.exe
    d=$dir/src-$p; mkdir -p "$d"
    "$node" bench/gen-binary.mjs "$d/terraform-provider-bench$ext" "$bytes" "$seed-$p"
    tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$d" -cf - "terraform-provider-bench$ext" \
      | gzip -n -6 > "$dir/terraform-provider-bench-v1.0.0-$os-$arch-bin.tar.gz"
    rm -rf "$d"' "$dir" "$bytes" "$SEED$sfx" "$NODE"
}
BYTES=$((SIZE_MB * 1024 * 1024))
log "generating 6 tarballs of ${SIZE_MB} MB binaries (seed '$SEED')"
gen_tarballs "$WORK/in" "$BYTES" ""

log "generating an RSA 3072 signing key (GNUPGHOME in the work dir)"
export GNUPGHOME=$WORK/gnupg
mkdir -m 700 "$GNUPGHOME"
gpg --batch --quiet --passphrase '' --quick-gen-key 'Relay Bench <bench@relay.invalid>' rsa3072 sign never 2>/dev/null
SIGNING_KEY=$(gpg --batch --armor --export-secret-keys)
[ -n "$SIGNING_KEY" ] || die "could not export the signing key"

# --- the two sides --------------------------------------------------------------
# Prefixes each line with the seconds since it started: Relay's log then shows
# where its wall time goes (build, plan, publish, verify).
stamp() {
  local t0=${EPOCHREALTIME/./} l
  while IFS= read -r l; do
    local us=$((${EPOCHREALTIME/./} - t0))
    printf '%4d.%02d %s\n' $((us / 1000000)) $((us % 1000000 / 10000)) "$l"
  done
}
# Relay's phases from a stamped log: the time of each group heading.
relay_phases() {
  awk -v wall="$2" '
    / ▸ Building/ {b = $1} / checked / {k = $1} / ▸ Planning/ {p = $1} / ▸ Checking/ {c = $1}
    / ▸ Publishing/ {u = $1} / ▸ Verifying/ {v = $1} / verified / {e = $1}
    END {
      if (!c) c = u  # zips went ahead: the probe ran while they compressed
      printf "start+key %.1f, unpack+check %.1f, compress+sign (zips uploaded meanwhile) %.1f, plan %.1f, probe %.1f, upload %.1f, verify %.1f, exit %.1f", b, k - b, p - k, c - p, u - c, v - u, e - v, wall - e
    }' "$1"
}

# Each sets RES_W (wall seconds), RES_M (peak RSS, KB) and RES_C (CPU seconds, user+sys).
run_peer() { # i
  local i=$1 b steps=$WORK/peer-$1.steps
  ensure_room "$(du -mc "$WORK"/in/*.tar.gz | tail -n 1 | cut -f1)"
  fresh_bucket "peer$i"; b=$BUCKET
  rm -rf "$WORK/peer"; mkdir -p "$WORK/peer"; : > "$steps"
  /usr/bin/time -o "$WORK/peer-$i.time" -f '%e %M %U %S' timeout "$TIMEOUT" bash bench/peer-pipeline.sh "$WORK/in" "$WORK/peer" "$b" "$steps" \
    > "$WORK/peer-$i.log" 2>&1 || { rc=$?; cat "$WORK/peer-$i.log" >&2; die "peer pipeline run $i failed$(why $rc)"; }
  read -r RES_W _ u s < <(tail -n 1 "$WORK/peer-$i.time")
  RES_C=$(awk -v u="$u" -v s="$s" 'BEGIN {printf "%.1f", u + s}')
  RES_M=$(awk 'BEGIN {m = 0} {if ($2 > m) m = $2} END {print m}' "$steps")
  local n; n=$(s3 count "$b")
  [ "$n" = 8 ] || die "peer run $i: bucket $b holds $n objects, expected 8"
  rm -rf "$WORK/peer"; drop_bucket "$b"
}

run_relay() { # label tarball-dir
  local i=$1 dir=$2 b left
  ensure_room "$(du -mc "$dir"/*.tar.gz | tail -n 1 | cut -f1)"
  fresh_bucket "relay$i"; b=$BUCKET
  rm -rf "$WORK/relay-tmp"; mkdir -p "$WORK/relay-tmp"
  TMPDIR=$WORK/relay-tmp RELAY_NAMESPACE=bench RELAY_NAME=$NAME RELAY_VERSION=$VERSION \
  RELAY_TARBALLS="$dir/terraform-provider-$NAME-v$VERSION-*-bin.tar.gz" RELAY_STORE="s3://$b" \
  RELAY_REGISTRY_URL=https://registry.example.com RELAY_S3_ENDPOINT=$ENDPOINT RELAY_SIGNING_KEY="$SIGNING_KEY" \
  AWS_ACCESS_KEY_ID=testaccess AWS_SECRET_ACCESS_KEY=testsecret AWS_REGION=us-east-1 \
    /usr/bin/time -o "$WORK/relay-$i.time" -f '%e %M %U %S' timeout "$TIMEOUT" "$NODE" "$CLI" publish-terraform-registry 2>&1 \
    | stamp > "$WORK/relay-$i.log" || { rc=$?; tail -n 30 "$WORK/relay-$i.log" >&2; die "relay run $i failed$(why $rc)"; }
  read -r RES_W RES_M u s < <(tail -n 1 "$WORK/relay-$i.time")
  RES_C=$(awk -v u="$u" -v s="$s" 'BEGIN {printf "%.1f", u + s}')
  local n; n=$(s3 count "$b")
  [ "$n" -ge 19 ] || die "relay run $i: bucket $b holds $n objects, expected at least 19"
  left=$(find "$WORK/relay-tmp" -mindepth 1 | wc -l)
  [ "$left" = 0 ] || log "note: relay run $i left $left entries in its TMPDIR"
  rm -rf "$WORK/relay-tmp"; drop_bucket "$b"
}

load1() { cut -d' ' -f1 /proc/loadavg; }
ROWS=()
PEER_W=() RELAY_W=() PEER_M=() RELAY_M=() PEER_C=() RELAY_C=()
for i in $(seq 1 "$RUNS"); do
  if [ $((i % 2)) = 1 ]; then order="peer relay"; else order="relay peer"; fi
  for side in $order; do
    l=$(load1)
    log "run $i/$RUNS: $side (load $l)"
    if [ "$side" = peer ]; then run_peer "$i"; else run_relay "$i" "$WORK/in"; fi
    w=$RES_W m=$RES_M
    ROWS+=("$i $side $w $RES_C $((m / 1024)) $l")
    if [ "$side" = peer ]; then PEER_W+=("$w"); PEER_M+=("$m"); PEER_C+=("$RES_C")
    else RELAY_W+=("$w"); RELAY_M+=("$m"); RELAY_C+=("$RES_C"); fi
    log "run $i/$RUNS: $side ${w}s, peak RSS $((m / 1024)) MB"
  done
done

BIG_ROW=""
if [ "$BIG" = 1 ]; then
  rm -rf "$WORK/in"   # bound the disk: the 2x set replaces the 1x one
  log "generating 6 tarballs of $((SIZE_MB * 2)) MB binaries for the RSS check"
  gen_tarballs "$WORK/in2" $((BYTES * 2)) "-2x"
  l=$(load1)
  log "relay on $((SIZE_MB * 2)) MB binaries (load $l)"
  run_relay big "$WORK/in2"; w=$RES_W m=$RES_M
  BIG_ROW="2x relay $w $RES_C $((m / 1024)) $l"
  log "relay 2x: ${w}s, peak RSS $((m / 1024)) MB"
fi

# --- report ---------------------------------------------------------------------
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR + 1) / 2]; else printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
max() { printf '%s\n' "$@" | sort -g | tail -n 1; }
pw=$(median "${PEER_W[@]}") rw=$(median "${RELAY_W[@]}")
ratio=$(awk -v r="$rw" -v p="$pw" 'BEGIN {printf "%.2f", r / p}')
rss=$(( $(max "${RELAY_M[@]}") / 1024 ))
prss=$(( $(max "${PEER_M[@]}") / 1024 ))

mkdir -p bench/out
OUT=bench/out/publish-$(date +%Y%m%d-%H%M%S).txt
{
  echo "Relay publish-terraform-registry vs plain pipeline, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), relay $CLI_FROM (index.js sha256 $CLI_SHA)"
  echo "$("$NODE" --version), $(nproc) cores, RGW $ENDPOINT"
  echo "input: 6 platforms x ${SIZE_MB} MB binary (seeded, ~50% compressible), $RUNS runs per side, alternating order"
  echo "peer upload concurrency: ${BENCH_UPLOAD_CONCURRENCY:-1}; relay wall time includes its read-back verify"
  echo
  printf '%-4s %-6s %8s %7s %13s %6s\n' run side wall_s cpu_s peak_rss_MB load1
  for r in "${ROWS[@]}" ${BIG_ROW:+"$BIG_ROW"}; do
    read -r a b c d e f <<<"$r"
    printf '%-4s %-6s %8s %7s %13s %6s\n' "$a" "$b" "$c" "$d" "$e" "$f"
  done
  echo
  echo "median wall: peer ${pw}s, relay ${rw}s; median CPU (user+sys): peer $(median "${PEER_C[@]}")s, relay $(median "${RELAY_C[@]}")s"
  echo "peer peak RSS (max over steps and runs): ${prss} MB"
  if [ -n "$BIG_ROW" ]; then
    read -r _ _ bw _ bm _ <<<"$BIG_ROW"
    echo "relay on $((SIZE_MB * 2)) MB binaries: ${bw}s, peak RSS ${bm} MB (vs ${rss} MB at ${SIZE_MB} MB)"
  fi
  last=$WORK/peer-$RUNS.steps
  if [ -f "$last" ]; then
    echo "peer steps of run $RUNS (s): $(awk '{split($3,s,"-"); t[s[1]]+=$1} END {for (k in t) printf "%s %.2f  ", k, t[k]}' "$last")"
  fi
  if [ -f "$WORK/relay-$RUNS.log" ]; then
    echo "relay phases of run $RUNS (s): $(relay_phases "$WORK/relay-$RUNS.log" "${RELAY_W[-1]}")"
  fi
  echo "ratio wall relay/peer: $ratio; relay peak RSS: $rss MB"
} | tee "$OUT"
cp "$WORK/relay-1.log" "${OUT%.txt}-relay.log" 2>/dev/null || true
log "written to $OUT"

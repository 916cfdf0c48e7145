#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine with Node and npm:
#   bash scripts/test.sh
# Installs what it needs (Debian packages for Ceph RGW, the CNCF registry,
# skopeo, GnuPG, unzip, Go for the stand-in providers; pnpm; the locked npm deps), runs the static checks
# (types, lint, committed bundles), starts the servers on loopback, runs unit
# and integration tests, and stops the servers by PID whatever happens.
#
# RELAY_TEST_LOAD=N (0 to 16, default 0) runs N CPU-bound processes beside the tests, as a loaded CI machine
# would, to show that the suite's time limits hold under load; they are stopped by PID when the tests end.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
step() { printf '\n== %s (%ss)\n' "$*" $(($(date +%s) - t0)); }

step "system packages"
need=()
for b in ceph-mon:ceph-mon ceph-osd:ceph-osd radosgw:radosgw radosgw-admin:ceph-common monmaptool:ceph-base \
         uuidgen:uuid-runtime docker-registry:docker-registry htpasswd:apache2-utils skopeo:skopeo \
         gpg:gnupg unzip:unzip curl:curl openssl:openssl go:golang-go; do
  command -v "${b%%:*}" >/dev/null 2>&1 || need+=("${b##*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

step "node dependencies"
command -v pnpm >/dev/null 2>&1 || npm install -g --silent pnpm@10.34.8
pnpm install --frozen-lockfile --reporter=silent

step "type-check, lint, committed bundles"
pnpm -s typecheck
pnpm -s lint
pnpm -s check-bundles

load=${RELAY_TEST_LOAD:-0}
if ! [[ $load =~ ^([0-9]|1[0-6])$ ]]; then
  echo "RELAY_TEST_LOAD: expected a number of CPU-bound processes from 0 to 16, got \"$load\"" >&2
  exit 2
fi

step "servers"
stop_servers() {
  bash scripts/servers/registries.sh stop >/dev/null 2>&1 || true
  bash scripts/servers/rgw.sh stop >/dev/null 2>&1 || true
}
burners=()
stop_burners() {
  for pid in "${burners[@]}"; do kill "$pid" 2>/dev/null || true; done
  burners=()
}
trap 'stop_burners; stop_servers' EXIT
stop_servers
bash scripts/servers/rgw.sh start
bash scripts/servers/registries.sh start
eval "$(bash scripts/servers/env.sh)"

step "tests"
if [ "$load" -gt 0 ]; then
  # Each one keeps a core busy: pure CPU, no I/O, so it competes with the tests only for the processors.
  for _ in $(seq "$load"); do
    node -e 'for (;;);' &
    burners+=($!)
  done
  echo "RELAY_TEST_LOAD=$load: CPU-bound processes ${burners[*]} run beside the tests"
fi
status=0
NODE_OPTIONS=--experimental-vm-modules pnpm -s exec jest --runInBand --reporters=default --reporters=./scripts/jest-summary.cjs "$@" || status=$?
stop_burners
step "done"
exit $status

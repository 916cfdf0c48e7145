#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine with Node and npm:
#   bash scripts/test.sh
# Installs what it needs (Debian packages for Ceph RGW, the CNCF registry,
# skopeo, GnuPG, unzip, Go for the stand-in providers; pnpm; the locked npm deps), runs the static checks
# (types, lint, committed bundles), starts the servers on loopback, runs unit
# and integration tests, and stops the servers by PID whatever happens.
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

step "servers"
stop_servers() {
  bash scripts/servers/registries.sh stop >/dev/null 2>&1 || true
  bash scripts/servers/rgw.sh stop >/dev/null 2>&1 || true
}
trap stop_servers EXIT
stop_servers
bash scripts/servers/rgw.sh start
bash scripts/servers/registries.sh start
eval "$(bash scripts/servers/env.sh)"

step "tests"
status=0
NODE_OPTIONS=--experimental-vm-modules pnpm -s exec jest --runInBand --reporters=default --reporters=./scripts/jest-summary.cjs "$@" || status=$?
step "done"
exit $status

#!/usr/bin/env bash
# Three CNCF distribution registries (Debian `docker-registry`, 2.8) on loopback,
# one per auth style a copier meets in the wild, plus the token server:
#   127.0.0.1:5001  Basic auth (htpasswd)         testuser/testpass
#   127.0.0.1:5002  anonymous
#   127.0.0.1:5003  Bearer token auth (auth.token) realm http://127.0.0.1:5004/token
#   127.0.0.1:5004  scripts/servers/token-server.mjs (testuser/testpass; pulluser/pullpass = pull only)
#
#   bash scripts/servers/registries.sh start|stop
#
# Data: ${RELAY_TEST_DIR:-/tmp/relay-test}/registries. Also installs the client
# tools the integration tests drive (skopeo, gpg, unzip) when they are missing.
# Starts in ~0.5 s (most of it the RSA key for the token server).
set -euo pipefail

DIR=${RELAY_TEST_DIR:-/tmp/relay-test}/registries
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
USER_=testuser PASS_=testpass
SERVICE=relay-test-registry ISSUER=relay-test-issuer
PORTS=(5001 5002 5003 5004)

t0=$(date +%s%N)
log() { printf '[registries %4d ms] %s\n' $((($(date +%s%N) - t0) / 1000000)) "$*"; }
die() { echo "registries.sh: $*" >&2; exit 1; }
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# Every server gets a path under $DIR on its command line; a recorded PID that
# no longer shows it was recycled by the OS and must not be signalled.
ours() { [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' < "/proc/$1/cmdline" | grep -qF -- "$DIR/"; }
recorded_pids() { cat "$DIR/pids" 2>/dev/null || true; }
code() { curl -s -o /dev/null -w '%{http_code}' "$@" || true; }

stop() {
  local p alive=""
  for p in $(recorded_pids); do ours "$p" && kill "$p" 2>/dev/null || true; done
  for _ in $(seq 1 40); do
    alive=""; for p in $(recorded_pids); do ours "$p" && alive="$alive $p"; done
    [ -z "$alive" ] && break; sleep 0.1
  done
  for p in $alive; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$DIR"
  echo "registries stopped"
}

install_missing() {
  local need=() b
  for b in docker-registry:docker-registry htpasswd:apache2-utils skopeo:skopeo curl:curl \
           openssl:openssl gpg:gnupg gpgconf:gnupg unzip:unzip; do
    command -v "${b%%:*}" >/dev/null 2>&1 || need+=("${b##*:}")
  done
  command -v node >/dev/null || die "node is required for the token server"
  [ ${#need[@]} -eq 0 ] && return
  log "installing: ${need[*]}"
  local sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo   # CI runners: non-root with sudo
  $sudo apt-get update -qq
  # On a systemd host docker-registry also starts its own :5000 instance; unused.
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
}

write_config() { # port, then extra YAML for the auth section
  local d="$DIR/$1"
  mkdir -p "$d/data"
  cat > "$d/config.yml" <<EOF
version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: $d/data
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$1
  secret: relay-test-secret-$1
$2
EOF
}

start() {
  local p live="" pids=()
  install_missing
  for p in $(recorded_pids); do ours "$p" && live="$live $p"; done
  if [ -n "$live" ]; then
    if [ "$(echo $live)" = "$(echo $(recorded_pids))" ]; then
      echo "registries already running (pids$live)"; return 0
    fi
    log "partly running ($live): stopping first"; stop >/dev/null
  fi
  for p in "${PORTS[@]}"; do
    # A registry whose port is taken exits, but the old server still answers
    # /v2/, so tests would silently run against the wrong server: refuse.
    port_busy "$p" && die "port 127.0.0.1:$p is already in use by another process; refusing to start"
  done
  rm -rf "$DIR"; mkdir -p "$DIR/token"
  trap 'echo "registries.sh: start failed; logs:" >&2; tail -n 5 "$DIR"/*/*.log >&2 2>/dev/null; stop >/dev/null 2>&1' EXIT

  # Token signing key + self-signed cert; the cert is the registry's rootcertbundle.
  # distribution wants digitalSignature on the leaf.
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=$ISSUER" \
    -addext 'keyUsage=critical,digitalSignature,keyCertSign' \
    -keyout "$DIR/token/key.pem" -out "$DIR/token/cert.pem" 2>/dev/null
  htpasswd -Bbc "$DIR/htpasswd" "$USER_" "$PASS_" 2>/dev/null

  write_config 5001 "auth:
  htpasswd:
    realm: relay-test-basic
    path: $DIR/htpasswd"
  write_config 5002 ""
  write_config 5003 "auth:
  token:
    realm: http://127.0.0.1:5004/token
    service: $SERVICE
    issuer: $ISSUER
    rootcertbundle: $DIR/token/cert.pem"

  node "$HERE/token-server.mjs" --port 5004 --key "$DIR/token/key.pem" --cert "$DIR/token/cert.pem" \
    --issuer "$ISSUER" --service "$SERVICE" > "$DIR/token/server.log" 2>&1 &
  pids+=($!)
  for p in 5001 5002 5003; do
    docker-registry serve "$DIR/$p/config.yml" > "$DIR/$p/registry.log" 2>&1 &
    pids+=($!)
  done
  echo "${pids[*]}" > "$DIR/pids"

  for _ in $(seq 1 100); do
    [ "$(code http://127.0.0.1:5001/v2/)" = 401 ] && [ "$(code http://127.0.0.1:5002/v2/)" = 200 ] &&
    [ "$(code http://127.0.0.1:5003/v2/)" = 401 ] && [ "$(code -u $USER_:$PASS_ "http://127.0.0.1:5004/token?service=$SERVICE")" = 200 ] && break
    sleep 0.05
  done
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || die "server pid $p exited"; done
  [ "$(code -u $USER_:$PASS_ http://127.0.0.1:5001/v2/)" = 200 ] || die "basic auth registry does not accept $USER_"
  # Prove the registry trusts the token server's signatures now, not in the middle of a test.
  local tok
  tok=$(curl -sf -u $USER_:$PASS_ "http://127.0.0.1:5004/token?service=$SERVICE" | sed -E 's/.*"token":"([^"]+)".*/\1/')
  [ "$(code -H "Authorization: Bearer $tok" http://127.0.0.1:5003/v2/)" = 200 ] ||
    die "token registry rejects tokens from the token server (see $DIR/5003/registry.log)"
  trap - EXIT
  log "ready: basic 5001, anon 5002, token 5003 (realm 5004); pids ${pids[*]}"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# A throw-away one-node Ceph cluster (mon + memstore OSD + radosgw/beast) on
# 127.0.0.1 for the integration tests: real S3 semantics (conditional writes,
# 412s, multipart) that in-process fakes get wrong. Starts in ~2 s, stops in <0.1 s.
#
#   bash scripts/servers/rgw.sh start|stop
#
# Env: RELAY_TEST_DIR (/tmp/relay-test; data in $RELAY_TEST_DIR/ceph),
#      RELAY_TEST_RGW_PORT (7480), RELAY_TEST_MON_PORT (3300; v1 msgr uses +1).
# S3 user: testaccess / testsecret (see scripts/servers/env.sh).
set -euo pipefail

DIR=${RELAY_TEST_DIR:-/tmp/relay-test}/ceph
RGW_PORT=${RELAY_TEST_RGW_PORT:-7480}
MON_V2_PORT=${RELAY_TEST_MON_PORT:-3300}
MON_V1_PORT=$((MON_V2_PORT + 1))
CONF=$DIR/ceph.conf
ACCESS=testaccess SECRET=testsecret

t0=$(date +%s%N)
log() { printf '[rgw %5d ms] %s\n' $((($(date +%s%N) - t0) / 1000000)) "$*"; }
die() { echo "rgw.sh: $*" >&2; exit 1; }
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A PID is "ours" only if it still runs with our ceph.conf on its command line:
# never signal a recycled PID that now belongs to something else.
ours() { [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' < "/proc/$1/cmdline" | grep -qF -- "$CONF"; }
recorded_pids() { cat "$DIR"/run/*.pid 2>/dev/null | sort -u || true; }

stop() {
  local p alive=""
  # SIGKILL at once: the data is throw-away and a clean shutdown costs ~2 s per daemon.
  for p in $(recorded_pids); do ours "$p" && kill -9 "$p" 2>/dev/null || true; done
  for _ in $(seq 1 40); do
    alive=""; for p in $(recorded_pids); do ours "$p" && alive="$alive $p"; done
    [ -z "$alive" ] && break; sleep 0.1
  done
  [ -z "$alive" ] || die "could not stop:$alive"
  rm -rf "$DIR"
  echo "rgw stopped"
}

install_missing() {
  local need=() b
  # command:package pairs; monmaptool lives in ceph-base, pulled in by ceph-mon.
  for b in ceph-mon:ceph-mon ceph-osd:ceph-osd radosgw:radosgw radosgw-admin:ceph-common \
           ceph:ceph-common monmaptool:ceph-base uuidgen:uuid-runtime curl:curl; do
    command -v "${b%%:*}" >/dev/null 2>&1 || need+=("${b##*:}")
  done
  [ ${#need[@]} -eq 0 ] && return
  log "installing: ${need[*]}"
  local sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo   # CI runners: non-root with sudo
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
}

start() {
  local p live="" fsid uuid id
  install_missing
  for p in $(recorded_pids); do ours "$p" && live="$live $p"; done
  if [ -n "$live" ]; then
    if [ -e "$DIR/pids" ] && [ "$(echo $live)" = "$(echo $(cat "$DIR/pids"))" ] &&
       curl -sf -o /dev/null "http://127.0.0.1:$RGW_PORT/"; then
      echo "rgw already running on 127.0.0.1:$RGW_PORT (pids$live)"; return 0
    fi
    log "half-started cluster in $DIR (pids$live): stopping it first"; stop >/dev/null
  fi
  for p in "$MON_V2_PORT" "$MON_V1_PORT" "$RGW_PORT"; do
    port_busy "$p" && die "port 127.0.0.1:$p is already in use by another process; refusing to start (free it or set RELAY_TEST_RGW_PORT / RELAY_TEST_MON_PORT)"
  done
  rm -rf "$DIR"; mkdir -p "$DIR"/{mon.a,osd.0,rgw,run,log}
  fsid=$(uuidgen)
  write_conf "$fsid"
  export CEPH_CONF=$CONF   # for the ceph/radosgw-admin clients
  # Whatever fails below (set -e or die): show the daemon logs, leave nothing running.
  trap 'echo "rgw.sh: start failed; last log lines:" >&2; tail -n 8 "$DIR"/log/{stderr,mon.a,osd.0,client.rgw.gw}.log >&2 2>/dev/null; stop >/dev/null 2>&1' EXIT

  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$MON_V2_PORT,v1:127.0.0.1:$MON_V1_PORT]" "$DIR/monmap" >/dev/null
  ceph-mon --mkfs -i a --monmap "$DIR/monmap" >/dev/null
  # Daemons get -c explicitly (not only CEPH_CONF) so that `ours` can recognise them.
  ceph-mon -c "$CONF" -i a 2>>"$DIR/log/stderr.log"
  timeout 60 ceph --connect-timeout 30 mon stat >/dev/null
  log "mon up"

  uuid=$(uuidgen); id=$(ceph osd new "$uuid")
  ceph-osd -i "$id" --mkfs --osd-uuid "$uuid" >/dev/null 2>&1
  ceph-osd -c "$CONF" -i "$id" 2>>"$DIR/log/stderr.log"
  for _ in $(seq 1 120); do ceph osd dump 2>/dev/null | grep -q "^osd.$id up" && break; sleep 0.2; done
  ceph osd dump | grep -q "^osd.$id up" || die "osd.$id did not come up"
  log "osd.$id up (memstore)"

  # RGW creates its pools lazily and each first CreateBucket/PutObject/multipart
  # then stalls; pre-create them. One client process with parallel requests: 14
  # `ceph` CLI runs (a python start-up each) cost ~2 s of CPU on 2 cores.
  /usr/bin/python3 - "$CONF" <<'PY'
import json, sys, rados
from concurrent.futures import ThreadPoolExecutor
pools = ['.rgw.root', 'default.rgw.log', 'default.rgw.control', 'default.rgw.meta',
         'default.rgw.buckets.index', 'default.rgw.buckets.data', 'default.rgw.buckets.non-ec']
c = rados.Rados(conffile=sys.argv[1]); c.connect(timeout=30)
def cmd(**kw):
    ret, _, err = c.mon_command(json.dumps(kw), b'')
    if ret != 0: sys.exit(f"{kw}: {err}")
with ThreadPoolExecutor(len(pools)) as ex:
    list(ex.map(lambda p: cmd(prefix='osd pool create', pool=p, pg_num=8, pgp_num=8), pools))
    list(ex.map(lambda p: cmd(prefix='osd pool application enable', pool=p, app='rgw'), pools))
c.shutdown()
PY
  log "pools created"

  radosgw -c "$CONF" -n client.rgw.gw 2>>"$DIR/log/stderr.log"
  for _ in $(seq 1 240); do curl -sf -o /dev/null "http://127.0.0.1:$RGW_PORT/" && break; sleep 0.25; done
  curl -sf -o /dev/null "http://127.0.0.1:$RGW_PORT/" || die "radosgw did not answer on port $RGW_PORT"
  radosgw-admin user create --uid=test --display-name=test --access-key=$ACCESS --secret-key=$SECRET >/dev/null
  trap - EXIT
  echo $(recorded_pids) > "$DIR/pids"
  log "rgw ready on http://127.0.0.1:$RGW_PORT (user $ACCESS; pids $(cat "$DIR/pids"))"
}

write_conf() {
  cat > "$CONF" <<EOF
[global]
fsid = $1
mon host = [v2:127.0.0.1:$MON_V2_PORT,v1:127.0.0.1:$MON_V1_PORT]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
# no cephx on a loopback-only throw-away cluster...
auth cluster required = none
auth service required = none
auth client required = none
# ...but radosgw defaults to ms_mon_client_mode=secure, which needs cephx and
# hangs 300 s ("get_initial_auth_request returned -13"): force crc.
ms mon client mode = crc
ms client mode = crc
mon warn on insecure global id reclaim = false
mon warn on insecure global id reclaim allowed = false
client mount timeout = 30
run dir = $DIR/run
admin socket = $DIR/run/\$name.asok
log file = $DIR/log/\$name.log
pid file = $DIR/run/\$name.pid
keyring = /dev/null
# one OSD: size 1, few PGs, no autoscaler, no health nagging
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
mon data avail warn = 2
mon data avail crit = 1
osd memory target = 939524096
mon memory target = 268435456
[mon]
mon data = $DIR/mon.\$id
mon cluster log file = $DIR/log/cluster.log
# commit map changes every 0.1 s instead of 1 s: OSD boot and pool creation wait on them
paxos propose interval = 0.1
paxos min wait = 0.01
[osd]
osd data = $DIR/osd.\$id
# RAM-backed: fastest start, and tests never need the data after stop
osd objectstore = memstore
memstore device bytes = 2147483648
osd max object name len = 460
osd max object namespace len = 64
[client.rgw.gw]
rgw data = $DIR/rgw
# without tcp_nodelay every response waits ~45 ms (Nagle + delayed ACK)
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT tcp_nodelay=1
rgw dns name = localhost
rgw enable usage log = false
rgw thread pool size = 64
# memstore keeps deleted objects in RAM until garbage collection, which by
# default waits hours: collect soon, so long sessions do not fill the OSD.
rgw gc obj min wait = 30
rgw gc processor period = 30
EOF
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac

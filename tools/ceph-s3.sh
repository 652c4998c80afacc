#!/usr/bin/env bash
# A real S3 endpoint for tests: Ceph's RADOS Gateway on a throwaway one-node
# Ceph cluster (1 monitor, 1 memstore OSD, no mgr), all of it on 127.0.0.1 and
# all of its state under one directory.
#
#   ceph-s3.sh start  DIR   bootstrap (or report, if already running) a cluster
#                           in DIR; prints endpoint=, access_key=, secret_key=,
#                           region=, force_path_style=, ceph_conf= lines on
#                           stdout (also in DIR/s3.env); progress on stderr.
#                           Takes ~2-3 s. No bucket is created.
#   ceph-s3.sh stop   DIR [--purge]
#                           stop exactly the daemons start recorded in DIR
#                           (by pid, after checking each pid still runs with
#                           DIR's config); --purge then removes DIR
#   ceph-s3.sh status DIR   exit 0 and print the env lines if all daemons run
#                           and the endpoint answers, else exit 1
#   ceph-s3.sh gateway-stop DIR
#                           stop only radosgw (an outage of the S3 endpoint;
#                           the data stays in the OSD)
#   ceph-s3.sh gateway-start DIR
#                           start radosgw again on the same port
#
# cloudlocker's own copy (the tests start it through test/helpers/rgw.ts);
# derived from the shared starter in ../shared/tools/ceph-s3.sh.
#
# Needs the Debian (bookworm) packages: ceph-mon ceph-osd radosgw (ceph-common
# comes with them); curl. No ceph-mgr. Install:
#   apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw curl
#
# Environment knobs (all optional):
#   CEPH_S3_PORT          RGW port (default: a free one picked at start)
#   CEPH_S3_ACCESS_KEY    default cephs3test-access-key
#   CEPH_S3_SECRET_KEY    default cephs3test-secret-key-0123456789abcdef
#   CEPH_S3_MEMSTORE_BYTES  capacity the memstore OSD reports (default 4 GiB).
#                         Data lives in the OSD's RAM: its RSS grows by ~2-2.5x
#                         what is stored. Once ~95% of this is used the OSD is
#                         "full" and writes HANG (RADOS pauses them; no error).
#                         Deleted data is freed by RGW's GC after ~1-2 minutes.
#   CEPH_S3_TIMEOUT       seconds allowed for start (default 120)
#   CEPH_S3_GC_SECONDS    how long deleted data waits for RGW's garbage
#                         collector (default 60; benchmarks use less, so the
#                         memstore is freed between rounds)
#
# The data lives in RAM only (memstore); nothing survives stop. Path-style
# addressing only (no rgw dns name): S3 clients need forcePathStyle.
set -u
set -o pipefail

ACCESS_KEY=${CEPH_S3_ACCESS_KEY:-cephs3test-access-key}
SECRET_KEY=${CEPH_S3_SECRET_KEY:-cephs3test-secret-key-0123456789abcdef}
REGION=us-east-1
MEMSTORE_BYTES=${CEPH_S3_MEMSTORE_BYTES:-4294967296}
START_TIMEOUT=${CEPH_S3_TIMEOUT:-120}
GC_SECONDS=${CEPH_S3_GC_SECONDS:-60}
MARKER=.ceph-s3-cluster
EMPTY_SHA256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
PY=/usr/bin/python3 # ceph-common depends on it; the ceph CLI runs on it

unset CEPH_ARGS CEPH_CONF # every ceph tool here gets -c DIR/ceph.conf, nothing else

log() { echo "ceph-s3: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
  exit 2
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# Does process $1 hold the socket listening on 127.0.0.1:$2?
owns_listener() {
  "$PY" - "$1" "$2" <<'PYEOF'
import os, sys
pid, port = sys.argv[1], int(sys.argv[2])
inodes = set()
with open("/proc/net/tcp") as f:
    next(f)
    for line in f:
        parts = line.split()
        addr, p = parts[1].split(":")
        if int(p, 16) == port and parts[3] == "0A" and addr == "0100007F":
            inodes.add(parts[9])
fds = "/proc/%s/fd" % pid
for fd in os.listdir(fds):
    try:
        link = os.readlink(os.path.join(fds, fd))
    except OSError:
        continue
    if link.startswith("socket:[") and link[8:-1] in inodes:
        sys.exit(0)
sys.exit(1)
PYEOF
}

port_free() {
  "$PY" -c 'import socket, sys; s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1])))' "$1" 2>/dev/null
}

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# The pid recorded for daemon $1, if that process still exists, is not a
# zombie and still runs with this DIR's config file.
live_pid() {
  local f="$DIR/pids/$1.pid" pid state
  [ -s "$f" ] || return 1
  pid=$(cat "$f")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [ -r "/proc/$pid/cmdline" ] || return 1
  state=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) || return 1
  [ "$state" != Z ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "-c $DIR/ceph.conf " || return 1
  echo "$pid"
}

# Start daemon $1 (its record name) as: $2... ; foreground (-f) under setsid,
# so that $! is the daemon itself, detached from our terminal and our stdout.
launch() {
  local name=$1
  shift
  setsid "$@" </dev/null >>"$DIR/log/$name.out" 2>&1 &
  echo $! >"$DIR/pids/$name.pid"
  disown $!
}

# Start time (clock ticks since boot) of process $1, empty if it is gone or a zombie.
proc_start() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) } # fields after "(comm) "
  set -- $stat
  [ "$1" != Z ] || return 1
  echo "${20}"
}

stop_pids() { # names... : TERM all, wait up to 10 s for them to be gone, then KILL what is left
  local name pid st victims=() v deadline left
  for name in "$@"; do
    if pid=$(live_pid "$name") && st=$(proc_start "$pid"); then
      kill -TERM "$pid" 2>/dev/null && victims+=("$name:$pid:$st")
    fi
  done
  deadline=$(($(date +%s) + 10))
  local killed=0
  while [ ${#victims[@]} -gt 0 ]; do
    left=()
    for v in "${victims[@]}"; do
      IFS=: read -r name pid st <<<"$v"
      [ "$(proc_start "$pid")" = "$st" ] && left+=("$v")
    done
    victims=(${left[@]+"${left[@]}"})
    [ ${#victims[@]} -gt 0 ] || break
    if [ "$(date +%s)" -ge "$deadline" ]; then
      if [ $killed = 1 ]; then
        log "WARNING: still not gone after SIGKILL: ${victims[*]}"
        return 1
      fi
      killed=1
      for v in "${victims[@]}"; do
        IFS=: read -r name pid st <<<"$v"
        log "$name (pid $pid) still there 10 s after SIGTERM; SIGKILL"
        [ "$(proc_start "$pid")" = "$st" ] && kill -KILL "$pid" 2>/dev/null
      done
      deadline=$(($(date +%s) + 5))
      sleep 0.2
      continue
    fi
    sleep 0.1
  done
  for name in "$@"; do rm -f "$DIR/pids/$name.pid"; done
}

do_stop() {
  [ -d "$DIR" ] || return 0
  [ -d "$DIR/pids" ] || return 0
  # the gateway first (it hangs on exit if the OSD is already gone), then the
  # OSD and the monitor
  stop_pids rgw
  stop_pids osd.0 mon.a
  local p
  for p in "$DIR"/pids/*.pid; do
    [ -e "$p" ] || continue
    stop_pids "$(basename "$p" .pid)"
  done
}

print_env() { cat "$DIR/s3.env"; }

is_running() {
  [ -s "$DIR/s3.env" ] || return 1
  live_pid mon.a >/dev/null && live_pid osd.0 >/dev/null && live_pid rgw >/dev/null || return 1
  local ep
  ep=$(sed -n 's/^endpoint=//p' "$DIR/s3.env")
  [ "$(curl --noproxy "*" -s -o /dev/null -m 5 -w '%{http_code}' "$ep/")" = 200 ]
}

start_failed() {
  log "start failed: $*"
  local f
  for f in "$DIR"/log/*.log "$DIR"/log/*.out; do
    [ -s "$f" ] || continue
    log "---- tail of $f"
    tail -n 15 "$f" >&2
  done
  do_stop
  exit 1
}

do_start() {
  local t0 p
  t0=$(now)
  for p in ceph-mon ceph-osd radosgw radosgw-admin monmaptool ceph uuidgen curl setsid timeout; do
    command -v "$p" >/dev/null || die "$p not found; apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw curl"
  done
  [ -x "$PY" ] || die "$PY not found"

  if [ -e "$DIR/$MARKER" ]; then
    if is_running; then
      log "already running in $DIR"
      print_env
      return 0
    fi
    log "stale cluster in $DIR: stopping what is left and starting afresh"
    do_stop
    rm -rf "${DIR:?}"/{mon,osd,rgw,run,log,pids,ceph.conf,monmap,s3.env,"$MARKER"}
  elif [ -d "$DIR" ] && [ -n "$(ls -A "$DIR")" ]; then
    die "$DIR exists, is not empty and is not a ceph-s3 directory; refusing to touch it"
  fi

  local fsid mon_port rgw_port conf="$DIR/ceph.conf"
  fsid=$(uuidgen)
  mon_port=$(free_port) || die "no free port"
  rgw_port=${CEPH_S3_PORT:-$(free_port)} || die "no free port"
  port_free "$rgw_port" || die "port $rgw_port on 127.0.0.1 is in use"

  mkdir -p "$DIR"/{mon,osd/ceph-0,rgw,run,log,pids} || die "cannot create $DIR"
  : >"$DIR/$MARKER"
  trap 'start_failed "interrupted"' INT TERM
  cat >"$conf" <<EOF
# generated by ceph-s3.sh: a throwaway single-node cluster on 127.0.0.1
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$mon_port]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr1 = false
ms bind msgr2 = true
ms bind ipv6 = false
# no cephx: every client and daemon is local and throwaway
auth cluster required = none
auth service required = none
auth client required = none
auth supported = none
# radosgw defaults this to "secure", which needs cephx session keys
ms mon client mode = crc
keyring = $DIR/keyring
run dir = $DIR/run
log file = $DIR/log/\$cluster-\$name.log
mon data = $DIR/mon/\$cluster-\$id
osd data = $DIR/osd/\$cluster-\$id
osd objectstore = memstore
memstore device bytes = $MEMSTORE_BYTES
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon max pg per osd = 500
# the monitor refuses to run below 5% free disk by default; its store here is tiny
mon data avail crit = 1
mon data avail warn = 2
# commit monitor changes (pool creations) quickly rather than batching them for 1 s
paxos propose interval = 0.05
paxos min wait = 0.01

[client.rgw.gw]
rgw frontends = beast endpoint=127.0.0.1:$rgw_port
rgw data = $DIR/rgw
rgw thread pool size = 128
# reclaim deleted/overwritten data after a minute rather than two hours (it is RAM)
rgw gc obj min wait = $GC_SECONDS
rgw gc processor period = $GC_SECONDS
# lifecycle rules are stored but never run (their thread also slows shutdown by ~5 s)
rgw enable lc threads = false
EOF

  # monitor
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$DIR/monmap" >"$DIR/log/monmaptool.out" 2>&1 ||
    start_failed "monmaptool"
  ceph-mon -c "$conf" --mkfs -i a --monmap "$DIR/monmap" >"$DIR/log/mon-mkfs.out" 2>&1 || start_failed "ceph-mon --mkfs"
  launch mon.a ceph-mon -c "$conf" -f -i a
  log "mon.a on 127.0.0.1:$mon_port (pid $(cat "$DIR/pids/mon.a.pid"))"

  # one memstore OSD
  local osd_uuid osd_id
  osd_uuid=$(uuidgen)
  osd_id=$(timeout 30 ceph -c "$conf" --connect-timeout 25 osd new "$osd_uuid" 2>>"$DIR/log/ceph-cli.out") ||
    start_failed "ceph osd new"
  [ "$osd_id" = 0 ] || start_failed "unexpected osd id '$osd_id'"
  ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$osd_uuid" >"$DIR/log/osd-mkfs.out" 2>&1 || start_failed "ceph-osd --mkfs"
  launch osd.0 ceph-osd -c "$conf" -f -i 0
  log "osd.0 started (pid $(cat "$DIR/pids/osd.0.pid")) at $(elapsed "$t0") s"

  # the gateway's zone, pools and user, made by radosgw-admin (it waits for the
  # OSD); the default zonegroup is renamed for S3 from "default" to us-east-1,
  # so that LocationConstraint/GetBucketLocation agree with region=us-east-1
  timeout 60 radosgw-admin -c "$conf" user create --uid=tester --display-name="ceph-s3 tester" \
    --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >"$DIR/log/user-create.out" 2>&1 ||
    start_failed "radosgw-admin user create"
  timeout 60 radosgw-admin -c "$conf" zonegroup modify --rgw-zonegroup=default --api-name="$REGION" \
    >"$DIR/log/zonegroup-modify.out" 2>&1 || start_failed "radosgw-admin zonegroup modify"
  log "user created at $(elapsed "$t0") s"

  launch rgw radosgw -c "$conf" -f -n client.rgw.gw
  local endpoint="http://127.0.0.1:$rgw_port" deadline code
  deadline=$(($(date +%s) + START_TIMEOUT))
  while :; do
    live_pid mon.a >/dev/null || start_failed "ceph-mon exited"
    live_pid osd.0 >/dev/null || start_failed "ceph-osd exited"
    live_pid rgw >/dev/null || start_failed "radosgw exited"
    code=$(curl --noproxy "*" -s -o /dev/null -m 2 -w '%{http_code}' "$endpoint/") || true
    # the answer must come from our radosgw, not from something else on that port
    [ "$code" = 200 ] && owns_listener "$(cat "$DIR/pids/rgw.pid")" "$rgw_port" && break
    [ "$(date +%s)" -lt "$deadline" ] || start_failed "the S3 endpoint did not answer within ${START_TIMEOUT} s"
    sleep 0.1
  done
  log "radosgw answers on $endpoint (pid $(cat "$DIR/pids/rgw.pid")) at $(elapsed "$t0") s"

  # ready when a signed request with the new key is accepted (ListBuckets)
  local ok=0 i
  for i in $(seq 1 100); do
    if curl --noproxy "*" -s -f -o /dev/null -m 5 --aws-sigv4 "aws:amz:$REGION:s3" --user "$ACCESS_KEY:$SECRET_KEY" \
      -H "x-amz-content-sha256: $EMPTY_SHA256" "$endpoint/"; then
      ok=1
      break
    fi
    sleep 0.1
  done
  [ $ok = 1 ] || start_failed "a signed ListBuckets with the new key was refused"

  cat >"$DIR/s3.env" <<EOF
endpoint=$endpoint
access_key=$ACCESS_KEY
secret_key=$SECRET_KEY
region=$REGION
force_path_style=true
ceph_conf=$conf
EOF
  trap - INT TERM
  log "ready in $(elapsed "$t0") s"
  print_env
}

[ $# -ge 2 ] || usage
CMD=$1
DIR=$2
case "$DIR" in /*) ;; *) DIR="$PWD/$DIR" ;; esac
DIR=${DIR%/}
[ -n "$DIR" ] && [ "$DIR" != / ] || die "refusing DIR '/'"
case "$CMD" in
  start) do_start ;;
  stop)
    if [ -d "$DIR" ] && [ ! -e "$DIR/$MARKER" ] && [ -n "$(ls -A "$DIR" 2>/dev/null)" ]; then
      die "$DIR is not a ceph-s3 directory"
    fi
    do_stop
    if [ "${3:-}" = --purge ] && [ -e "$DIR/$MARKER" ]; then rm -rf "${DIR:?}"; fi
    log "stopped"
    ;;
  gateway-stop)
    [ -e "$DIR/$MARKER" ] || die "$DIR is not a ceph-s3 directory"
    stop_pids rgw
    log "gateway stopped"
    ;;
  gateway-start)
    [ -s "$DIR/s3.env" ] || die "no cluster in $DIR"
    live_pid rgw >/dev/null && die "radosgw still runs in $DIR"
    launch rgw radosgw -c "$DIR/ceph.conf" -f -n client.rgw.gw
    ep=$(sed -n 's/^endpoint=//p' "$DIR/s3.env")
    deadline=$(($(date +%s) + START_TIMEOUT))
    until [ "$(curl --noproxy "*" -s -o /dev/null -m 2 -w '%{http_code}' "$ep/")" = 200 ]; do
      live_pid rgw >/dev/null || die "radosgw exited"
      [ "$(date +%s)" -lt "$deadline" ] || die "radosgw did not answer within ${START_TIMEOUT} s"
      sleep 0.1
    done
    log "gateway answers again on $ep"
    ;;
  status)
    is_running || { log "not running in $DIR"; exit 1; }
    print_env
    ;;
  *) usage ;;
esac

#!/usr/bin/env bash
# Patroni + etcd on loopback, with strongroomd on top, failed over once under a write load.
#
# Brings up a one-member etcd, two PostgreSQL 15 members under Patroni (synchronous_mode:
# a commit is acknowledged only once the standby has it), and one strongroomd whose conninfo
# names both members with target_session_attrs=read-write. A client loop creates keys and
# encrypts, recording every acknowledged write. Then the leader fails:
#   default        kill -9 of the leader's Patroni and postmaster (a crashed machine): the
#                  standby takes over once the leader key expires in etcd (ttl 10 s);
#   --switchover   `patronictl switchover` to the standby (planned maintenance).
# It prints the seconds without service and the requests that failed, then checks that
# strongroomd serves again without a restart and that every acknowledged key exists and
# every acknowledged ciphertext decrypts to its plaintext. Exit 0 only if so.
#
# Needs root (PostgreSQL, Patroni and etcd run as user postgres) and the Debian packages
# patroni, etcd-server and postgresql-15 (tools/setup.sh). Everything lives in a fresh
# directory under ${TMPDIR:-/tmp} and every process it started is stopped on exit (--keep
# leaves the directory for reading the logs). It takes about a minute, so it is a script,
# not a test in .ci/run. The Patroni configuration it writes is the one README "Running a
# cluster" describes.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=kill
keep=false
for arg in "$@"; do
  case "$arg" in
    --switchover) mode=switchover ;;
    --keep) keep=true ;;
    *) echo "usage: $0 [--switchover] [--keep]" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "$0: needs root (PostgreSQL runs as user postgres)" >&2; exit 2; }
for tool in patroni patronictl etcd; do
  command -v "$tool" >/dev/null || { echo "$0: $tool missing: run tools/setup.sh" >&2; exit 2; }
done

bazel build //server:strongroomd //tools/cli:strongroom >&2
bazel_bin="$(bazel info bazel-bin 2>/dev/null)"  # not the symlink: another -c opt build moves it
strongroomd="$bazel_bin/server/strongroomd"
cli="$bazel_bin/tools/cli/strongroom"
pg_bin=/usr/lib/postgresql/15/bin

work="$(mktemp -d "${TMPDIR:-/tmp}/strongroom-patroni.XXXXXX")"
chmod 0711 "$work"
pids=()
cleanup() {
  local status=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for member in pg1 pg2; do
    if [ -f "$work/$member/data/postmaster.pid" ]; then
      runuser -u postgres -- "$pg_bin/pg_ctl" -D "$work/$member/data" stop -m immediate \
        >/dev/null 2>&1 || true
    fi
  done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if $keep; then echo "logs kept in $work" >&2; else rm -rf "$work"; fi
  exit $status
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
secret() { openssl rand -hex 24; }
# Runs "$@" as user postgres in the background, recording its pid.
start_as_postgres() {
  local log="$1"; shift
  setsid runuser -u postgres -- "$@" >"$log" 2>&1 &
  pids+=($!)
}
wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local deadline=$((SECONDS + $1)) what="$2"; shift 2
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then echo "timed out waiting for $what" >&2; return 1; fi
    sleep 0.2
  done
}

# ---- etcd: one member, the distributed configuration store Patroni keeps its leader key in
etcd_port=$(free_port); etcd_peer=$(free_port)
install -d -o postgres -m 0700 "$work/etcd"
start_as_postgres "$work/etcd.log" etcd --name e1 --data-dir "$work/etcd/data" \
  --listen-client-urls "http://127.0.0.1:$etcd_port" \
  --advertise-client-urls "http://127.0.0.1:$etcd_port" \
  --listen-peer-urls "http://127.0.0.1:$etcd_peer" \
  --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
  --initial-cluster "e1=http://127.0.0.1:$etcd_peer"
wait_for 30 etcd curl -sf "http://127.0.0.1:$etcd_port/health"

# ---- two PostgreSQL members under Patroni
superuser_password=$(secret); replication_password=$(secret); strongroom_password=$(secret)
declare -A pg_port api_port
for member in pg1 pg2; do
  pg_port[$member]=$(free_port); api_port[$member]=$(free_port)
  install -d -o postgres -m 0700 "$work/$member"
  # Patroni reads its passwords from this file: 0600, owned by postgres.
  install -o postgres -m 0600 /dev/null "$work/$member/patroni.yml"
  cat >"$work/$member/patroni.yml" <<EOF
scope: strongroom
name: $member
restapi:
  listen: 127.0.0.1:${api_port[$member]}
  connect_address: 127.0.0.1:${api_port[$member]}
etcd3:
  hosts: 127.0.0.1:$etcd_port
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 1
    retry_timeout: 4
    maximum_lag_on_failover: 0
    synchronous_mode: true
    postgresql:
      use_pg_rewind: false
      parameters:
        synchronous_commit: "on"
        wal_level: replica
        max_wal_senders: 5
        max_replication_slots: 5
  initdb:
    - encoding: UTF8
  pg_hba:
    - host replication replicator 127.0.0.1/32 scram-sha-256
    - host all all 127.0.0.1/32 scram-sha-256
postgresql:
  listen: 127.0.0.1:${pg_port[$member]}
  connect_address: 127.0.0.1:${pg_port[$member]}
  data_dir: $work/$member/data
  bin_dir: $pg_bin
  pgpass: $work/$member/pgpass
  authentication:
    superuser: {username: postgres, password: "$superuser_password"}
    replication: {username: replicator, password: "$replication_password"}
  parameters:
    unix_socket_directories: $work/$member
EOF
done
start_as_postgres "$work/pg1/patroni.log" patroni "$work/pg1/patroni.yml"
patroni_pid[1]=${pids[-1]}
# pg2 starts once pg1 leads, so it bootstraps as its replica.
members() { patronictl -c "$work/pg1/patroni.yml" list -f json 2>/dev/null; }
role_of() {  # role_of ROLE: the member name holding ROLE ("Leader", "Sync Standby")
  members | python3 -c "import json,sys; print(next(m['Member'] for m in json.load(sys.stdin) if m['Role'] == '$1' and m['State'] in ('running', 'streaming')))"
}
wait_for 60 "pg1 to lead" role_of Leader
start_as_postgres "$work/pg2/patroni.log" patroni "$work/pg2/patroni.yml"
patroni_pid[2]=${pids[-1]}
wait_for 90 "pg2 to become the synchronous standby" role_of "Sync Standby"
echo "patroni: $(role_of Leader) leads, $(role_of 'Sync Standby') is the synchronous standby" >&2

# ---- the strongroom database and role, through the leader
install -m 0600 /dev/null "$work/superuser.pgpass"
echo "127.0.0.1:*:*:postgres:$superuser_password" >"$work/superuser.pgpass"
leader=$(role_of Leader)
PGPASSFILE="$work/superuser.pgpass" psql -q -v ON_ERROR_STOP=1 \
  "host=127.0.0.1 port=${pg_port[$leader]} user=postgres dbname=postgres" <<EOF
CREATE ROLE strongroom LOGIN PASSWORD '$strongroom_password';
CREATE DATABASE strongroom OWNER strongroom;
EOF

# ---- strongroomd on both members' addresses
state="$work/strongroom"
mkdir -p "$state/softhsm-tokens"
printf 'directories.tokendir = %s/softhsm-tokens\nobjectstore.backend = file\nlog.level = ERROR\n' \
  "$state" >"$state/softhsm2.conf"
install -m 0600 /dev/null "$state/pg.password"
printf '%s' "$strongroom_password" >"$state/pg.password"
grpc_port=$(free_port)
cat >"$state/strongroom.yaml" <<EOF
state_dir: $state
node_id: node1
storage:
  postgres:
    conninfo: "host=127.0.0.1,127.0.0.1 port=${pg_port[pg1]},${pg_port[pg2]} dbname=strongroom user=strongroom target_session_attrs=read-write connect_timeout=2"
    password_file: pg.password
grpc:
  address: 127.0.0.1:$grpc_port
http:
  address: 127.0.0.1:0
pki:
  plain_http:
    address: 127.0.0.1:0
EOF
export SOFTHSM2_CONF="$state/softhsm2.conf"
"$strongroomd" init-token --config "$state/strongroom.yaml" >&2
"$strongroomd" --config "$state/strongroom.yaml" >"$work/strongroomd.log" 2>&1 &
pids+=($!)
export STRONGROOM_ADDR="127.0.0.1:$grpc_port" STRONGROOM_CACERT="$state/tls/server.crt"
export STRONGROOM_TOKEN_FILE="$state/root-token"
wait_for 60 strongroomd "$cli" status
"$cli" key create base >/dev/null

# ---- the write load: one key creation and one encryption per round, each acknowledged
# write recorded with a timestamp; failures recorded too.
load() {
  local i=0 now
  while [ ! -f "$work/stop" ]; do
    i=$((i + 1))
    now=$(date +%s.%N)
    if "$cli" key create "k-$i" >/dev/null 2>>"$work/client.err"; then
      echo "$now k-$i" >>"$work/acked-keys"
    else
      echo "$now" >>"$work/failed"
    fi
    now=$(date +%s.%N)
    if ct=$(printf 'plaintext %s' "$i" | "$cli" encrypt base 2>>"$work/client.err"); then
      echo "$now $i $ct" >>"$work/acked-ciphertexts"
    else
      echo "$now" >>"$work/failed"
    fi
  done
}
touch "$work/failed" "$work/acked-keys" "$work/acked-ciphertexts"
load &
load_pid=$!
pids+=($load_pid)
sleep 5

leader=$(role_of Leader)
standby=$(role_of "Sync Standby")
failed_at=$(date +%s.%N)
if [ "$mode" = kill ]; then
  echo "failover: kill -9 of $leader's Patroni and postmaster" >&2
  n=${leader#pg}
  postmaster=$(head -1 "$work/$leader/data/postmaster.pid")
  patroni_proc=$(pgrep -P "${patroni_pid[$n]}" | head -1 || true)
  kill -9 "${patroni_proc:-${patroni_pid[$n]}}" "$postmaster"
else
  echo "failover: patronictl switchover from $leader to $standby" >&2
  patronictl -c "$work/pg1/patroni.yml" switchover --leader "$leader" --candidate "$standby" \
    --force >&2
fi
wait_for 60 "$standby to lead" bash -c "[ \"\$(patronictl -c '$work/pg1/patroni.yml' list -f json | python3 -c \"import json,sys; print(next((m['Member'] for m in json.load(sys.stdin) if m['Role'] == 'Leader' and m['State'] == 'running'), ''))\")\" = '$standby' ]"
promoted_at=$(date +%s.%N)
# Served again: a key created after the new leader is up.
wait_for 60 "strongroomd to serve again" "$cli" key create after-failover
sleep 3
touch "$work/stop"
wait "$load_pid"

# ---- what the clients saw
python3 - "$work" "$failed_at" "$promoted_at" <<'EOF'
import sys
work, failed_at, promoted_at = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
acked = [float(l.split()[0]) for f in ("acked-keys", "acked-ciphertexts")
         for l in open(f"{work}/{f}") if l.strip()]
failed = [float(l) for l in open(f"{work}/failed") if l.strip()]
before = max((t for t in acked if t <= failed_at), default=failed_at)
after = min((t for t in acked if t > failed_at), default=float("nan"))
print(f"acknowledged writes: {len(acked)}; requests failed: {len(failed)}")
print(f"new leader running {promoted_at - failed_at:.1f} s after the failure")
print(f"seconds without service (last acknowledged write before the failure to the first after): {after - before:.2f}")
EOF

# ---- nothing acknowledged is lost
lost=0
while read -r _ key; do
  "$cli" key get "$key" >/dev/null 2>&1 || { echo "LOST: key $key" >&2; lost=$((lost + 1)); }
done <"$work/acked-keys"
while read -r _ i ct; do
  got=$("$cli" decrypt base "$ct" 2>/dev/null || true)
  [ "$got" = "plaintext $i" ] || { echo "LOST: ciphertext $i does not decrypt" >&2; lost=$((lost + 1)); }
done <"$work/acked-ciphertexts"
echo "acknowledged writes lost: $lost"
[ "$lost" -eq 0 ]

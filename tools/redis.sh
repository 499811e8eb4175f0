#!/usr/bin/env bash
# Throw-away Redis servers for tests: one per directory, on a free port on 127.0.0.1.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PRISM_TOOL=redis
# shellcheck source-path=SCRIPTDIR source=_lib.sh
. "$HERE/_lib.sh"

usage() {
  cat >&2 <<'EOF'
usage: tools/redis.sh COMMAND
  install               apt-get install redis-server if `redis-server` is missing
                        (the distro service is not started)
  start DIR [--aof] [--port N]
                        start a redis-server owning DIR (config, data, log, pidfile) on a
                        free 127.0.0.1 port; waits for PONG; prints the PORT on stdout.
                        --aof: appendonly yes + appendfsync always (each write on disk).
                        --port N: on port N (e.g. 6379 for commands that assume the default
                        port); fails if N is taken.
                        A DIR that ran before is started again on its old port, with its
                        old config and data (the --aof choice of the first start stays).
  stop DIR              SIGTERM (redis saves and exits), wait up to 20 s, then SIGKILL
  restart DIR           stop, then start again on the same port and data; prints PORT
  status DIR            exit 0 and print PORT if the server of DIR is up
  cluster-start DIR [R]  a Redis Cluster of 3 masters + R replicas each (R = 1 or 2, default 1;
                        DIR/n1..n(3+3R), free ports, appendonly yes, cluster-node-timeout
                        1000 ms); waits for cluster_state:ok on every node and every
                        replica in sync; prints every host:port, comma-separated.
                        A DIR that ran before restarts its nodes (same ports and data).
  cluster-stop DIR      stop every node of the cluster in DIR
  node-kill DIR N       SIGKILL node N (1..3 start as masters) of the cluster in DIR (a crash)
  node-start DIR N      start node N again (same port, data and cluster config); it rejoins
                        (a killed master whose replica took over comes back as its replica)
Progress goes to stderr. PRISM_CACHE (default ~/.cache/prism) holds the install lock.
EOF
  exit 2
}

cmd_install() {
  if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
    log "redis-server already installed: $(redis-server --version | head -n1)"
    return 0
  fi
  apt_install redis-server redis-tools
  command -v redis-server >/dev/null 2>&1 || die "redis-server still missing after apt-get install"
  log "installed: $(redis-server --version | head -n1)"
}

ping_ok() { [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ]; }

cmd_start() {
  [ $# -ge 1 ] || usage
  local dir=$1 aof=no want_port=""; shift
  while [ $# -gt 0 ]; do
    case $1 in
      --aof) aof=yes ;;
      --port)
        [ $# -ge 2 ] && [[ $2 =~ ^[0-9]+$ ]] || die "start: --port needs a port number"
        want_port=$2; shift ;;
      *) die "start: unknown option $1" ;;
    esac
    shift
  done
  command -v redis-server >/dev/null 2>&1 || cmd_install
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  local conf=$dir/redis.conf pidf=$dir/redis.pid port t0 rc
  if pid_alive "$pidf" redis-server >/dev/null; then
    die "a redis-server already runs for $dir (port $(cat "$dir/port")); stop it first"
  fi
  if [ -n "$want_port" ] && [ -s "$dir/port" ] && [ "$(cat "$dir/port")" != "$want_port" ]; then
    die "$dir ran on port $(cat "$dir/port") before, not $want_port: use a fresh DIR"
  fi
  if [ -s "$conf" ] && [ -s "$dir/port" ]; then
    port=$(cat "$dir/port")
    port_in_use "$port" && die "port $port of $dir is taken by another process"
    log "restarting $dir on its old port $port (config kept: $(grep '^appendonly' "$conf"))"
  else
    if [ -n "$want_port" ]; then
      port=$want_port
      port_in_use "$port" && die "port $port is taken by another process (not started)"
    else
      port=$(free_port)
    fi
    cat > "$conf" <<EOF
# written by tools/redis.sh
bind 127.0.0.1
port $port
protected-mode no
daemonize yes
pidfile $pidf
logfile $dir/redis.log
dir $dir
dbfilename dump.rdb
save 3600 1 300 100 60 10000
appendonly $aof
appendfsync always
EOF
    echo "$port" > "$dir/port"
  fi
  t0=$(now_ms)
  redis-server "$conf" >&2 || { tail -n 30 "$dir/redis.log" >&2 || true; die "redis-server failed to start"; }
  rc=0; wait_until 30 "" ping_ok "$port" || rc=$?
  if [ $rc != 0 ]; then
    tail -n 30 "$dir/redis.log" >&2 || true
    die "redis on port $port did not answer PING within 30 s (log: $dir/redis.log)"
  fi
  log "redis up on 127.0.0.1:$port (dir $dir, aof=$(awk '/^appendonly/{print $2}' "$conf")) in $(elapsed "$t0")"
  echo "$port"
}

cmd_stop() { stop_dir_server redis redis.pid 20 redis-server "$@"; }

cmd_status() {
  [ $# -eq 1 ] || usage
  local dir=$1
  [ -s "$dir/port" ] && pid_alive "$dir/redis.pid" redis-server >/dev/null \
    && ping_ok "$(cat "$dir/port")" && cat "$dir/port"
}

cluster_ok() { # cluster_ok R PORT... -> 0 when every node reports cluster_state:ok and every
  # master has R replicas in sync (else the first WAIT would find too few)
  local p repl r=$1; shift
  for p in "$@"; do
    redis-cli -h 127.0.0.1 -p "$p" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || return 1
    repl=$(redis-cli -h 127.0.0.1 -p "$p" info replication 2>/dev/null | tr -d '\r') || return 1
    case $repl in
      *role:master*) [ "$(grep -c '^slave[0-9]*:.*state=online' <<<"$repl")" -ge "$r" ] || return 1 ;;
      *) grep -q '^master_link_status:up' <<<"$repl" || return 1 ;;
    esac
  done
}

cmd_cluster_start() {
  [ $# -eq 1 ] || { [ $# -eq 2 ] && [[ $2 =~ ^[12]$ ]]; } || usage
  command -v redis-server >/dev/null 2>&1 || cmd_install
  mkdir -p "$1"
  local dir i nd port ports=() addrs=() fresh=0 t0 rc r=${2:-1}
  dir=$(cd "$1" && pwd)
  if [ -s "$dir/replicas" ]; then r=$(cat "$dir/replicas"); else echo "$r" > "$dir/replicas"; fi
  t0=$(now_ms)
  for i in $(seq 1 $((3 + 3 * r))); do
    nd=$dir/n$i
    mkdir -p "$nd"
    if pid_alive "$nd/redis.pid" redis-server >/dev/null; then
      die "node $i of $dir already runs; cluster-stop it first"
    fi
    if [ -s "$nd/port" ]; then
      port=$(cat "$nd/port")
      port_in_use "$port" && die "port $port of $nd is taken by another process"
    else
      fresh=1
      port=$(free_port)
      # the cluster bus listens on port + 10000: it must be free too
      while [ "$port" -gt 55000 ] || port_in_use $((port + 10000)); do port=$(free_port); done
      cat > "$nd/redis.conf" <<EOF
# written by tools/redis.sh cluster-start
bind 127.0.0.1
port $port
protected-mode no
daemonize yes
pidfile $nd/redis.pid
logfile $nd/redis.log
dir $nd
cluster-enabled yes
cluster-config-file nodes.conf
cluster-node-timeout 1000
appendonly yes
appendfsync everysec
EOF
      echo "$port" > "$nd/port"
    fi
    redis-server "$nd/redis.conf" >&2 || { tail -n 30 "$nd/redis.log" >&2 || true; die "node $i failed to start"; }
    ports+=("$port"); addrs+=("127.0.0.1:$port")
  done
  for port in "${ports[@]}"; do
    rc=0; wait_until 30 "" ping_ok "$port" || rc=$?
    [ $rc = 0 ] || die "cluster node on port $port did not answer PING within 30 s"
  done
  if [ $fresh = 1 ]; then
    redis-cli --cluster create "${addrs[@]}" --cluster-replicas "$r" --cluster-yes >&2 \
      || die "redis-cli --cluster create failed"
  fi
  rc=0; wait_until 60 "" cluster_ok "$r" "${ports[@]}" || rc=$?
  [ $rc = 0 ] || die "cluster in $dir did not reach cluster_state:ok within 60 s"
  log "redis cluster up in $dir (${addrs[*]}) in $(elapsed "$t0")"
  (IFS=,; echo "${addrs[*]}")
}

cmd_cluster_stop() {
  [ $# -eq 1 ] || usage
  [ -d "$1" ] || { log "no such dir $1: nothing to stop"; return 0; }
  local dir i; dir=$(cd "$1" && pwd)
  for i in 1 2 3 4 5 6 7 8 9; do
    [ -d "$dir/n$i" ] && stop_pid "$dir/n$i/redis.pid" "redis cluster node $i ($dir)" 20 redis-server
  done
  return 0
}

cmd_node_kill() {
  [ $# -eq 2 ] && [[ $2 =~ ^[1-9]$ ]] || usage
  local dir pid; dir=$(cd "$1" && pwd)
  pid=$(pid_alive "$dir/n$2/redis.pid" redis-server) || die "node $2 of $dir is not running"
  kill -KILL "$pid"
  for _ in $(seq 1 50); do proc_running "$pid" || break; sleep 0.1; done
  rm -f "$dir/n$2/redis.pid"
  log "node $2 of $dir (pid $pid, port $(cat "$dir/n$2/port")) SIGKILLed"
}

cmd_node_start() {
  [ $# -eq 2 ] && [[ $2 =~ ^[1-9]$ ]] || usage
  local dir nd rc; dir=$(cd "$1" && pwd); nd=$dir/n$2
  [ -s "$nd/redis.conf" ] || die "no node $2 in $dir"
  pid_alive "$nd/redis.pid" redis-server >/dev/null && die "node $2 of $dir already runs"
  redis-server "$nd/redis.conf" >&2 || die "node $2 failed to start"
  rc=0; wait_until 30 "" ping_ok "$(cat "$nd/port")" || rc=$?
  [ $rc = 0 ] || die "node $2 of $dir did not answer PING within 30 s"
  log "node $2 of $dir up again on port $(cat "$nd/port")"
}

case ${1:-} in
  cluster-start) shift; cmd_cluster_start "$@" ;;
  cluster-stop) shift; cmd_cluster_stop "$@" ;;
  node-kill) shift; cmd_node_kill "$@" ;;
  node-start) shift; cmd_node_start "$@" ;;
  *) run_command "$@" ;;
esac

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

run_command "$@"

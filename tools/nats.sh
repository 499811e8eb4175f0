#!/usr/bin/env bash
# Throw-away NATS servers (Debian's nats-server, with JetStream) for tests: one per
# directory, on a free port on 127.0.0.1.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PRISM_TOOL=nats
# shellcheck source-path=SCRIPTDIR source=_lib.sh
. "$HERE/_lib.sh"

usage() {
  cat >&2 <<'EOF'
usage: tools/nats.sh COMMAND
  install        apt-get install nats-server if `nats-server` is missing (service not started)
  start DIR      start nats-server (JetStream on, store in DIR/jetstream) owning DIR on a
                 free 127.0.0.1 port; ready when the port sends its INFO line; prints the
                 PORT on stdout. A DIR that ran before comes back on its old port and data.
  stop DIR       SIGTERM, wait up to 20 s, then SIGKILL
  restart DIR    stop, then start on the same port and data; prints PORT
  status DIR     exit 0 and print PORT if the server of DIR is up
EOF
  exit 2
}

find_nats() {
  command -v nats-server 2>/dev/null || { [ -x /usr/sbin/nats-server ] && echo /usr/sbin/nats-server; }
}

cmd_install() {
  local bin
  if bin=$(find_nats); then
    log "nats-server already installed: $("$bin" --version 2>&1 | head -n1)"
    return 0
  fi
  apt_install nats-server
  bin=$(find_nats) || die "nats-server still missing after apt-get install"
  log "installed: $("$bin" --version 2>&1 | head -n1)"
}

# The NATS protocol greets each client with "INFO {...}".
info_ok() (
  exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
  IFS= read -r -t 2 line <&3 || exit 1
  [[ $line == INFO* ]]
)

cmd_start() {
  [ $# -eq 1 ] || usage
  local dir=$1 port bin t0 rc
  bin=$(find_nats) || { cmd_install; bin=$(find_nats); }
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if pid_alive "$dir/nats.pid" "$dir" >/dev/null; then
    die "a nats-server already runs for $dir; stop it first"
  fi
  if [ -s "$dir/port" ]; then
    port=$(cat "$dir/port")
    port_in_use "$port" && die "port $port of $dir is taken by another process"
    log "restarting $dir on its old port $port"
  else
    port=$(free_port)
    echo "$port" > "$dir/port"
  fi
  t0=$(now_ms)
  [ -s "$dir/nats.log" ] && mv -f "$dir/nats.log" "$dir/nats.log.prev"
  nohup setsid "$bin" -a 127.0.0.1 -p "$port" -js -sd "$dir/jetstream" \
      -l "$dir/nats.log" --pid "$dir/nats.pid.server" > "$dir/nats.out" 2>&1 < /dev/null &
  echo $! > "$dir/nats.pid"
  rc=0; wait_until 30 "$dir/nats.pid" info_ok "$port" || rc=$?
  if [ $rc != 0 ]; then
    tail -n 30 "$dir/nats.log" "$dir/nats.out" >&2 2>/dev/null || true
    stop_pid "$dir/nats.pid" "nats ($dir)" 5
    die "nats-server on port $port not ready within 30 s (log: $dir/nats.log)"
  fi
  log "nats up on 127.0.0.1:$port (dir $dir) in $(elapsed "$t0")"
  echo "$port"
}

cmd_stop() { stop_dir_server nats nats.pid 20 @DIR@ "$@"; }

cmd_status() {
  [ $# -eq 1 ] || usage
  local dir=$1
  [ -s "$dir/port" ] && pid_alive "$dir/nats.pid" >/dev/null && info_ok "$(cat "$dir/port")" \
    && cat "$dir/port"
}

run_command "$@"

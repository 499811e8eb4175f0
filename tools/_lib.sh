# Shared helpers for tools/*.sh (sourced, not run). Everything here logs to stderr:
# the scripts keep stdout for the one line a caller parses (a port, a bootstrap address, a path).
# shellcheck shell=bash

PRISM_CACHE=${PRISM_CACHE:-${HOME:-/root}/.cache/prism}

log() { printf '[%s] %s\n' "${PRISM_TOOL:-tools}" "$*" >&2; }
die() { printf '[%s] ERROR: %s\n' "${PRISM_TOOL:-tools}" "$*" >&2; exit 1; }

now_ms() { date +%s%3N; }
elapsed() { # elapsed START_MS -> "1.234s"
  local d=$(( $(now_ms) - $1 ))
  printf '%d.%03ds' $((d / 1000)) $((d % 1000))
}

# A python to run small probes with: $PRISM_PYTHON, the project venv, else python3.
# Prints nothing (and returns 1) if none works.
pick_python() {
  local p
  for p in "${PRISM_PYTHON:-}" /work/venv/bin/python python3; do
    [ -n "$p" ] || continue
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import socket' >/dev/null 2>&1; then
      echo "$p"; return 0
    fi
  done
  return 1
}

# port_in_use PORT -> 0 if something accepts TCP connections on 127.0.0.1:PORT.
port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# free_port -> a TCP port on 127.0.0.1 that nothing listens on right now.
# The kernel picks it (bind to port 0) when a python is around; else random probing.
free_port() {
  local py port
  if py=$(pick_python); then
    port=$("$py" -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()') \
      && [ -n "$port" ] && { echo "$port"; return 0; }
  fi
  for _ in $(seq 1 200); do
    port=$(( 20000 + RANDOM % 40000 ))
    port_in_use "$port" || { echo "$port"; return 0; }
  done
  die "could not find a free TCP port on 127.0.0.1"
}

# proc_running PID -> 0 if PID exists and is not a zombie (a daemon whose starter exited is
# reparented to init, which may reap it only a second or so after it exits).
proc_running() {
  kill -0 "$1" 2>/dev/null || return 1
  if [ -r "/proc/$1/stat" ]; then
    local st
    st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
  fi
}

# pid_alive PIDFILE [MUST_CONTAIN] -> 0 if the pid in PIDFILE runs (and its command line
# contains MUST_CONTAIN, to avoid acting on a recycled pid). Echoes the pid.
pid_alive() {
  local f=$1 want=${2:-} pid
  [ -s "$f" ] || return 1
  pid=$(tr -dc '0-9' < "$f")
  [ -n "$pid" ] || return 1
  proc_running "$pid" || return 1
  if [ -n "$want" ] && [ -r "/proc/$pid/cmdline" ]; then
    tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF -- "$want" || return 1
  fi
  echo "$pid"
}

# stop_pid PIDFILE NAME [GRACE_SECONDS] [MUST_CONTAIN]: SIGTERM, wait, then SIGKILL.
stop_pid() {
  local f=$1 name=$2 grace=${3:-30} want=${4:-} pid t0
  if ! pid=$(pid_alive "$f" "$want"); then
    log "$name: not running (no live pid in $f)"
    rm -f "$f"
    return 0
  fi
  t0=$(now_ms)
  log "$name: SIGTERM to pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 $((grace * 10))); do
    proc_running "$pid" || { log "$name: stopped in $(elapsed "$t0")"; rm -f "$f"; return 0; }
    sleep 0.1
  done
  log "$name: still alive after ${grace}s, SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do proc_running "$pid" || break; sleep 0.1; done
  rm -f "$f"
  log "$name: killed after $(elapsed "$t0")"
}

# apt_install PKG...: apt-get install -y, with one `apt-get update` first, never starting
# the distro's service (a temporary policy-rc.d that denies, only if the machine has none),
# serialised with flock so parallel test runs don't fight over the dpkg lock.
apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found: install $* by hand"
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "need root (or sudo) to apt-get install $*"
    local SUDO=sudo
  else
    local SUDO=
  fi
  mkdir -p "$PRISM_CACHE"
  (
    flock -w 900 9 || die "timed out waiting for $PRISM_CACHE/apt.lock"
    local made_policy=0 t0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
      $SUDO chmod 755 /usr/sbin/policy-rc.d
      made_policy=1
      # shellcheck disable=SC2064
      trap "$SUDO rm -f /usr/sbin/policy-rc.d" EXIT
    fi
    t0=$(now_ms)
    log "apt-get update"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 \
      || die "apt-get update failed"
    log "apt-get install -y $*"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2 \
      || die "apt-get install $* failed"
    log "installed $* in $(elapsed "$t0")"
    [ "$made_policy" = 1 ] && $SUDO rm -f /usr/sbin/policy-rc.d
    trap - EXIT
  ) 9>"$PRISM_CACHE/apt.lock"
}

# wait_until TIMEOUT_S PIDFILE_OR_EMPTY CMD...: retry CMD every 0.2 s until it succeeds;
# fail early if the pid in PIDFILE dies.
wait_until() {
  local timeout=$1 pidf=$2; shift 2
  local deadline=$(( $(now_ms) + timeout * 1000 ))
  while [ "$(now_ms)" -lt "$deadline" ]; do
    if "$@" >/dev/null 2>&1; then return 0; fi
    if [ -n "$pidf" ] && ! pid_alive "$pidf" >/dev/null; then return 2; fi
    sleep 0.2
  done
  return 1
}

# stop_dir_server NAME PIDFILE GRACE_SECONDS MUST_CONTAIN DIR...: the `stop DIR` command of
# the service scripts. Usage error unless exactly one DIR; a DIR that does not exist has
# nothing to stop; else stop_pid on DIR/PIDFILE, logged as "NAME (DIR)". In MUST_CONTAIN,
# @DIR@ stands for DIR's absolute path (for servers started with it on their command line).
stop_dir_server() {
  local name=$1 pidfile=$2 grace=$3 want=$4; shift 4
  [ $# -eq 1 ] || usage
  [ -d "$1" ] || { log "no such dir $1: nothing to stop"; return 0; }
  local dir; dir=$(cd "$1" && pwd)
  stop_pid "$dir/$pidfile" "$name ($dir)" "$grace" "${want//@DIR@/"$dir"}"
}

# run_command COMMAND [ARGS...]: the command line of the service scripts, dispatched to the
# script's usage, cmd_install, cmd_start, cmd_stop and cmd_status.
run_command() {
  [ $# -ge 1 ] || usage
  local sub=$1; shift
  case $sub in
    install) cmd_install ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    restart) [ $# -eq 1 ] || usage; cmd_stop "$1"; cmd_start "$1" ;;
    status) cmd_status "$@" ;;
    -h|--help|help) usage ;;
    *) log "unknown command: $sub"; usage ;;
  esac
}

# java_major -> the major version of the java on PATH ("1.8.0_392" -> 8, "17.0.15" -> 17).
java_major() {
  local v
  v=$(java -version 2>&1 | awk -F'"' '/version/ {print $2; exit}')
  v=${v#1.}
  echo "${v%%[.+-]*}"
}

# ensure_java17 WHAT: Java 17+ on PATH (apt-get install openjdk-17-jre-headless when missing).
ensure_java17() {
  if ! command -v java >/dev/null 2>&1 || [ "$(java_major)" -lt 17 ] 2>/dev/null; then
    log "java 17+ missing (found: $(command -v java >/dev/null 2>&1 && java_major || echo none))"
    apt_install openjdk-17-jre-headless
    if [ "$(java_major)" -lt 17 ] && [ -x /usr/lib/jvm/java-17-openjdk-amd64/bin/java ]; then
      export PATH=/usr/lib/jvm/java-17-openjdk-amd64/bin:$PATH
    fi
  fi
  local m; m=$(java_major)
  { [ -n "$m" ] && [ "$m" -ge 17 ]; } || die "$1 needs Java 17+, java on PATH is version '$m'"
}

# mvn_copy_libs POM LIBS MARKER_GLOB WHAT: the runtime jars of POM copied once into LIBS by
# `mvn dependency:copy-dependencies` (again when POM changes); MARKER_GLOB names a jar that
# must be among them. Serialised with flock; the new set is swapped in at once, so servers
# running from the old jars keep their open files.
mvn_copy_libs() {
  local pom=$1 libs=$2 marker=$3 what=$4 want
  want=$(sha256sum < "$pom" | cut -c1-16)
  if [ -f "$libs/.done" ] && [ "$(cat "$libs/.done")" = "$want" ]; then
    log "$what already in $libs ($(find "$libs" -name "*.jar" | wc -l) jars)"
    return 0
  fi
  command -v mvn >/dev/null 2>&1 || apt_install maven
  mkdir -p "$(dirname "$libs")"
  (
    flock -w 900 9 || die "timed out waiting for $libs.lock"
    if [ -f "$libs/.done" ] && [ "$(cat "$libs/.done")" = "$want" ]; then exit 0; fi
    local t0 tmp; t0=$(now_ms)
    tmp="$libs.tmp.$$"
    rm -rf "$tmp"
    log "mvn dependency:copy-dependencies -> $libs (first time: ~1 min)"
    mvn -q -B -Dstyle.color=never -f "$pom" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$tmp" >&2 \
      || { rm -rf "$tmp"; die "mvn could not fetch $what (see above)"; }
    # shellcheck disable=SC2086  # MARKER_GLOB is a glob
    ls "$tmp"/$marker >/dev/null 2>&1 || die "mvn ran but no $marker in $tmp"
    echo "$want" > "$tmp/.done"
    rm -rf "$libs.old"
    [ -d "$libs" ] && mv "$libs" "$libs.old"
    mv "$tmp" "$libs"
    rm -rf "$libs.old"
    log "copied $(find "$libs" -name "*.jar" | wc -l) jars in $(elapsed "$t0")"
  ) 9>"$libs.lock"
}

# free_ports N -> N distinct free TCP ports on 127.0.0.1, space-separated.
free_ports() {
  local -a ports=()
  local p
  while [ ${#ports[@]} -lt "$1" ]; do
    p=$(free_port)
    case " ${ports[*]} " in *" $p "*) ;; *) ports+=("$p") ;; esac
  done
  echo "${ports[*]}"
}

# ports_free DIR PORT...: die unless every PORT (kept by DIR from an earlier run) is free.
ports_free() {
  local dir=$1 p; shift
  for p in "$@"; do
    port_in_use "$p" && die "port $p of $dir is taken by another process"
  done
  return 0
}

# start_java_server NAME CONF NOUN PROBE PROBE_NAME DIR: the `start DIR` command of the JVM
# service scripts (a start takes a JVM boot, so a port lost to a race between picking and
# binding it is retried on new ports, 3 attempts). The script defines:
#   prepare_dir DIR    ports and config in DIR: a DIR that ran before keeps them, else new
#                      ones. Sets FRESH (1: new ports), SERVER_PORT (the clients' port) and
#                      SERVER_DETAIL (the other ports, for the log). START_MS is the start time.
#   launch DIR         the JVM in the background; pidfile DIR/NAME.pid, output DIR/NAME.out
#   log_says_started DIR, and PROBE PORT (a client's handshake, named PROBE_NAME in errors).
# Ready: the log says started within START_TIMEOUT s, then PROBE answers within 30 s. A pid is
# the server's while its command line names DIR/CONF. Prints 127.0.0.1:SERVER_PORT.
start_java_server() {
  local name=$1 conf=$2 noun=$3 probe=$4 probe_name=$5 dir=$6 rc attempt
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  local pidf=$dir/$name.pid out=$dir/$name.out
  if pid_alive "$pidf" "$dir/$conf" >/dev/null; then
    die "a $noun already runs for $dir; stop it first"
  fi
  START_MS=$(now_ms)
  for attempt in 1 2 3; do
    prepare_dir "$dir"
    launch "$dir"
    rc=0; wait_until "$START_TIMEOUT" "$pidf" log_says_started "$dir" || rc=$?
    if [ $rc = 0 ]; then
      rc=0; wait_until 30 "$pidf" "$probe" "$SERVER_PORT" || rc=$?
      if [ $rc = 0 ]; then
        log "$noun up on 127.0.0.1:$SERVER_PORT ($SERVER_DETAIL, dir $dir) in $(elapsed "$START_MS")"
        echo "127.0.0.1:$SERVER_PORT"
        return 0
      fi
      stop_pid "$pidf" "$name ($dir)" 10 "$dir/$conf"
      tail -n 40 "$out" >&2
      die "log says started but the $probe_name on :$SERVER_PORT failed for 30 s"
    fi
    stop_pid "$pidf" "$name ($dir)" 10 "$dir/$conf"
    if [ "$FRESH" = 1 ] && grep -q "Address already in use" "$out"; then
      log "port race (Address already in use), attempt $attempt: new ports"
      rm -rf "$dir/data" "$dir/ports"
      continue
    fi
    tail -n 40 "$out" >&2
    [ $rc = 2 ] && die "the $noun JVM exited during start-up (log: $out)"
    die "$noun not started within ${START_TIMEOUT}s (log: $out)"
  done
  die "could not start the $noun after 3 attempts"
}

#!/usr/bin/env bash
# A real single-node Apache Cassandra 5.0 built from Maven Central jars (tools/cassandra/pom.xml),
# one per directory, on free ports on 127.0.0.1.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PRISM_TOOL=cassandra
# shellcheck source-path=SCRIPTDIR source=_lib.sh
. "$HERE/_lib.sh"

CASS_CONF=$HERE/cassandra
LIBS=${PRISM_CASSANDRA_LIBS:-$PRISM_CACHE/cassandra-libs}
START_TIMEOUT=${PRISM_CASSANDRA_START_TIMEOUT:-240}
HEAP=${PRISM_CASSANDRA_HEAP:-512m}

usage() {
  cat >&2 <<'EOF2'
usage: tools/cassandra.sh COMMAND
  install        check Java 17+ (apt-get install openjdk-17-jre-headless / maven when
                 missing) and copy the server jars once into $PRISM_CACHE/cassandra-libs
                 (PRISM_CACHE defaults to ~/.cache/prism); re-copies when pom.xml changes
  start DIR      start a node owning DIR (cassandra.yaml, data/, cassandra.out, pidfile) on
                 free native (CQL), storage and JMX ports; prints the CQL address
                 (127.0.0.1:PORT) on stdout. A DIR that ran before keeps its ports and data.
  stop DIR       SIGTERM (Cassandra drains: memtables flushed), wait up to 60 s, then SIGKILL
  restart DIR    stop, then start on the same ports and data; prints the CQL address
  status DIR     exit 0 and print the CQL address if the node of DIR is up
Ready means: the log says "Startup complete" AND the CQL port answers a native-protocol v4
OPTIONS frame with SUPPORTED (a stdlib python probe; no driver needed).
Env: PRISM_CASSANDRA_HEAP (512m), PRISM_CASSANDRA_START_TIMEOUT (240 s),
PRISM_CASSANDRA_JVM_OPTS (extra JVM flags), PRISM_CASSANDRA_COMMITLOG_SYNC (periodic, Cassandra's
default: a write is acknowledged before its commit log is synced, so a killed node loses the
last ones; batch: synced first. Read when DIR starts fresh; a restart keeps the DIR's mode).
EOF2
  exit 2
}

cmd_install() {
  ensure_java17 "Cassandra 5.0"
  mvn_copy_libs "$CASS_CONF/pom.xml" "$LIBS" "cassandra-all-*.jar" "the Cassandra jars"
}

# cql_probe PORT: a CQL handshake, not just a TCP connect: OPTIONS (v4) must get SUPPORTED.
cql_probe() {
  local py; py=$(pick_python) || { port_in_use "$1"; return; }
  "$py" - "$1" <<'PY'
import socket, struct, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3) as s:
    s.sendall(struct.pack(">BBhBi", 0x04, 0, 1, 0x05, 0))  # v4 request, stream 1, OPTIONS
    head = b""
    while len(head) < 9:
        chunk = s.recv(9 - len(head))
        if not chunk:
            sys.exit(1)
        head += chunk
    version, _flags, stream, opcode, _length = struct.unpack(">BBhBi", head)
    sys.exit(0 if version == 0x84 and stream == 1 and opcode == 0x06 else 1)  # SUPPORTED
PY
}
log_says_started() { grep -q "Startup complete" "$1/cassandra.out"; }

jvm_opts() { # DIR -> the JVM flags (Java 17 module flags from cassandra/jvm17.options)
  local dir=$1
  grep -v '^#' "$CASS_CONF/jvm17.options" | tr '\n' ' '
  # shellcheck disable=SC1091
  . "$dir/ports"
  printf '%s ' "-Xms$HEAP" "-Xmx$HEAP" -Xss256k -XX:+UseG1GC -XX:+UseThreadPriorities \
    -XX:+CrashOnOutOfMemoryError -Djava.net.preferIPv4Stack=true \
    "-javaagent:$(echo "$LIBS"/jamm-*.jar)" \
    "-Dcassandra.config=file://$dir/cassandra.yaml" "-Dcassandra.storagedir=$dir/data" \
    "-Dcassandra.logdir=$dir/logs" "-Dlogback.configurationFile=file://$CASS_CONF/logback.xml" \
    "-Dcassandra.jmx.local.port=$JMX_PORT" -Dcassandra-foreground=yes \
    -Dcassandra.skip_wait_for_gossip_to_settle=0 -Dcassandra.ring_delay_ms=100
}

launch() { # DIR -> starts the JVM in the background, pidfile DIR/cassandra.pid
  local dir=$1
  mkdir -p "$dir/logs" "$dir/data"
  [ -s "$dir/cassandra.out" ] && mv -f "$dir/cassandra.out" "$dir/cassandra.out.prev"
  # shellcheck disable=SC2046,SC2086  # word splitting of the JVM options is wanted
  nohup setsid java $(jvm_opts "$dir") ${PRISM_CASSANDRA_JVM_OPTS:-} -cp "$LIBS/*" \
      org.apache.cassandra.service.CassandraDaemon > "$dir/cassandra.out" 2>&1 < /dev/null &
  echo $! > "$dir/cassandra.pid"
}

# prepare_dir DIR: see start_java_server (tools/_lib.sh).
prepare_dir() {
  local dir=$1 nport sport tport jport
  if [ -d "$dir/data/data" ] && [ -s "$dir/ports" ]; then
    # shellcheck disable=SC1091
    . "$dir/ports"
    ports_free "$dir" "$NATIVE_PORT" "$STORAGE_PORT" "$JMX_PORT"
    log "restarting $dir with its data on CQL port $NATIVE_PORT"
    FRESH=0
  else
    FRESH=1
    rm -rf "$dir/data" "$dir/logs"
    read -r nport sport tport jport <<< "$(free_ports 4)"
    sed -e "s#@DIR@#$dir#g" -e "s#@NATIVE_PORT@#$nport#g" -e "s#@STORAGE_PORT@#$sport#g" \
        -e "s#@SSL_STORAGE_PORT@#$tport#g" "$CASS_CONF/cassandra.yaml" > "$dir/cassandra.yaml"
    grep -q "native_transport_port: $nport" "$dir/cassandra.yaml" || die "port substitution failed"
    case "${PRISM_CASSANDRA_COMMITLOG_SYNC:-periodic}" in
      periodic) ;;
      batch) sed -i -e 's/^commitlog_sync: periodic$/commitlog_sync: batch/' \
               -e '/^commitlog_sync_period:/d' "$dir/cassandra.yaml" ;;
      *) die "PRISM_CASSANDRA_COMMITLOG_SYNC must be periodic or batch" ;;
    esac
    printf 'NATIVE_PORT=%s\nSTORAGE_PORT=%s\nSSL_STORAGE_PORT=%s\nJMX_PORT=%s\n' \
      "$nport" "$sport" "$tport" "$jport" > "$dir/ports"
    # shellcheck disable=SC1091
    . "$dir/ports"
  fi
  SERVER_PORT=$NATIVE_PORT
  SERVER_DETAIL="storage :$STORAGE_PORT, jmx :$JMX_PORT"
}

cmd_start() {
  [ $# -eq 1 ] || usage
  cmd_install
  start_java_server cassandra cassandra.yaml node cql_probe "CQL probe" "$1"
}

cmd_stop() { stop_dir_server cassandra cassandra.pid 60 @DIR@/cassandra.yaml "$@"; }

cmd_status() {
  [ $# -eq 1 ] || usage
  local dir; dir=$(cd "$1" && pwd)
  pid_alive "$dir/cassandra.pid" "$dir/cassandra.yaml" >/dev/null || return 1
  # shellcheck disable=SC1091
  . "$dir/ports"
  cql_probe "$NATIVE_PORT" >/dev/null 2>&1 && echo "127.0.0.1:$NATIVE_PORT"
}

run_command "$@"

#!/usr/bin/env bash
# A real single-node KRaft Kafka 4.x broker (broker+controller in one JVM) built from Maven
# Central jars (tools/kafka/pom.xml), one per directory, on free ports on 127.0.0.1.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PRISM_TOOL=kafka
# shellcheck source-path=SCRIPTDIR source=_lib.sh
. "$HERE/_lib.sh"

KAFKA_CONF=$HERE/kafka
LIBS=${PRISM_KAFKA_LIBS:-$PRISM_CACHE/kafka-libs}
START_TIMEOUT=${PRISM_KAFKA_START_TIMEOUT:-180}
HEAP=${PRISM_KAFKA_HEAP:-512m}

usage() {
  cat >&2 <<'EOF'
usage: tools/kafka.sh COMMAND
  install        check Java 17+ (apt-get install openjdk-17-jre-headless / maven when
                 missing) and copy the broker jars once into $PRISM_CACHE/kafka-libs
                 (PRISM_CACHE defaults to ~/.cache/prism); re-copies when pom.xml changes
  start DIR      start a broker owning DIR (server.properties, data/, kafka.out, pidfile)
                 on free broker and controller ports; prints BOOTSTRAP (127.0.0.1:PORT)
                 on stdout. A new DIR is formatted first; a DIR that ran before keeps its
                 ports and data (cluster id, topics, messages).
  stop DIR       SIGTERM (controlled shutdown), wait up to 30 s, then SIGKILL
  restart DIR    stop, then start on the same ports and data; prints BOOTSTRAP
  status DIR     exit 0 and print BOOTSTRAP if the broker of DIR is up
  cluster-start DIR   a 3-broker KRaft cluster (each JVM broker+controller, a static 3-voter
                 quorum) in DIR/b1..b3; topics default to replication factor 3 and
                 min.insync.replicas 2. Prints BOOTSTRAP (the three 127.0.0.1:PORT, comma-
                 separated) once every broker is up and metadata lists all three.
  cluster-stop DIR    stop all three brokers
  broker-stop DIR N   SIGTERM broker N (1..3) of the cluster in DIR (controlled shutdown)
  broker-kill DIR N   SIGKILL broker N (a crash: no controlled shutdown)
  broker-start DIR N  start broker N again on its ports and data; waits until it is up
Ready means: the log says "Kafka Server started" AND a metadata request succeeds: a
confluent_kafka AdminClient list_topics() run by $PRISM_PYTHON (with PYTHONPATH=
$PRISM_PYTHONPATH if set), else /work/venv/bin/python, else python3 (whichever can import
confluent_kafka); with none of them, a TCP connect to the broker port.
Env: PRISM_KAFKA_HEAP (512m; 320m per broker in cluster mode), PRISM_KAFKA_START_TIMEOUT (180 s), PRISM_KAFKA_JVM_OPTS (extra
JVM flags).
EOF
  exit 2
}

cmd_install() {
  ensure_java17 "Kafka 4.x"
  mvn_copy_libs "$KAFKA_CONF/pom.xml" "$LIBS" "kafka_2.13-*.jar" "the Kafka jars"
}

jvm_log_opts() { # DIR
  echo "-Dlog4j2.configurationFile=$KAFKA_CONF/log4j2.properties -Dkafka.logs.dir=$1/logs"
}

# metadata_probe PORT: a real Metadata request when some python has confluent_kafka.
# PRISM_PYTHONPATH: the sys.path of a caller whose python is a pex/venv (tests/services sets it).
KPY=
PROBE_PYTHONPATH=${PRISM_PYTHONPATH:-${PYTHONPATH:-}}
find_probe_python() {
  local p
  for p in "${PRISM_PYTHON:-}" /work/venv/bin/python python3; do
    [ -n "$p" ] || continue
    if command -v "$p" >/dev/null 2>&1 \
        && PYTHONPATH=$PROBE_PYTHONPATH "$p" -c 'import confluent_kafka' >/dev/null 2>&1; then
      KPY=$p; return 0
    fi
  done
  return 1
}
metadata_probe() {
  if [ -n "$KPY" ]; then
    PYTHONPATH=$PROBE_PYTHONPATH "$KPY" - "127.0.0.1:$1" <<'EOF'
import sys
from confluent_kafka.admin import AdminClient
md = AdminClient({"bootstrap.servers": sys.argv[1]}).list_topics(timeout=3)
sys.exit(0 if md.brokers else 1)
EOF
  else
    port_in_use "$1"
  fi
}
log_says_started() { grep -q "Kafka Server started" "$1/kafka.out"; }

# A Kafka cluster id as `StorageTool random-uuid` makes it (16 random bytes, URL-safe base64
# without padding, not starting with '-'), without paying for one more JVM start.
new_cluster_id() {
  local id
  while :; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    case $id in -*|AAAAAAAAAAAAAAAAAAAAAA|AAAAAAAAAAAAAAAAAAAAAQ) continue ;; esac
    echo "$id"; return 0
  done
}

launch() { # DIR -> starts the JVM in the background, pidfile DIR/kafka.pid
  local dir=$1
  mkdir -p "$dir/logs"
  [ -s "$dir/kafka.out" ] && mv -f "$dir/kafka.out" "$dir/kafka.out.prev"
  # shellcheck disable=SC2046,SC2086  # word splitting of the JVM options is wanted
  nohup setsid java "-Xms$HEAP" "-Xmx$HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
      -Djava.awt.headless=true ${PRISM_KAFKA_JVM_OPTS:-} $(jvm_log_opts "$dir") -cp "$LIBS/*" \
      kafka.Kafka "$dir/server.properties" > "$dir/kafka.out" 2>&1 < /dev/null &
  echo $! > "$dir/kafka.pid"
}

# prepare_dir DIR: see start_java_server (tools/_lib.sh).
prepare_dir() {
  local dir=$1 bport cport cid
  if [ -f "$dir/data/meta.properties" ] && [ -s "$dir/ports" ]; then
    # shellcheck disable=SC1091
    . "$dir/ports"
    bport=$BROKER_PORT; cport=$CONTROLLER_PORT
    ports_free "$dir" "$bport" "$cport"
    log "restarting $dir with its data on broker port $bport, controller port $cport"
    FRESH=0
  else
    FRESH=1
    rm -rf "$dir/data" "$dir/logs"
    read -r bport cport <<< "$(free_ports 2)"
    sed -e "s#^log.dirs=.*#log.dirs=$dir/data#" \
        -e "s#^listeners=.*#listeners=PLAINTEXT://127.0.0.1:$bport,CONTROLLER://127.0.0.1:$cport#" \
        -e "s#^advertised.listeners=.*#advertised.listeners=PLAINTEXT://127.0.0.1:$bport,CONTROLLER://127.0.0.1:$cport#" \
        -e "s#^controller.quorum.bootstrap.servers=.*#controller.quorum.bootstrap.servers=127.0.0.1:$cport#" \
        "$KAFKA_CONF/server.properties" > "$dir/server.properties"
    grep -q "127.0.0.1:$bport" "$dir/server.properties" || die "port substitution failed"
    printf 'BROKER_PORT=%s\nCONTROLLER_PORT=%s\n' "$bport" "$cport" > "$dir/ports"
    cid=$(new_cluster_id)
    # shellcheck disable=SC2046
    java -Xmx256m $(jvm_log_opts "$dir") -cp "$LIBS/*" kafka.tools.StorageTool format \
        --standalone -t "$cid" -c "$dir/server.properties" >>"$dir/format.out" 2>&1 \
      || { tail -n 20 "$dir/format.out" >&2; die "kafka storage format failed"; }
    log "formatted $dir/data (cluster id $cid) after $(elapsed "$START_MS")"
  fi
  SERVER_PORT=$bport
  SERVER_DETAIL="controller :$cport"
}

cmd_start() {
  [ $# -eq 1 ] || usage
  cmd_install
  if find_probe_python; then
    log "readiness probe: confluent_kafka list_topics via $KPY"
  else
    log "readiness probe: no python with confluent_kafka, falling back to a TCP connect"
  fi
  start_java_server kafka server.properties broker metadata_probe "metadata probe" "$1"
}

cmd_stop() { stop_dir_server kafka kafka.pid 30 @DIR@/server.properties "$@"; }

cmd_status() {
  [ $# -eq 1 ] || usage
  local dir; dir=$(cd "$1" && pwd)
  pid_alive "$dir/kafka.pid" "$dir/server.properties" >/dev/null || return 1
  # shellcheck disable=SC1091
  . "$dir/ports"
  find_probe_python || true
  metadata_probe "$BROKER_PORT" >/dev/null 2>&1 && echo "127.0.0.1:$BROKER_PORT"
}

# ------------------------------------------------------------------ 3-broker cluster mode
CLUSTER_SIZE=3

cluster_props() { # DIR N VOTERS BPORT CPORT -> DIR/bN/server.properties
  local d=$1/b$2
  mkdir -p "$d"
  sed -e "s#^node.id=.*#node.id=$2#" \
      -e "s#^log.dirs=.*#log.dirs=$d/data#" \
      -e "s#^listeners=.*#listeners=PLAINTEXT://127.0.0.1:$4,CONTROLLER://127.0.0.1:$5#" \
      -e "s#^advertised.listeners=.*#advertised.listeners=PLAINTEXT://127.0.0.1:$4,CONTROLLER://127.0.0.1:$5#" \
      -e "s#^controller.quorum.bootstrap.servers=.*#controller.quorum.voters=$3#" \
      -e "s#^\(offsets.topic\|transaction.state.log\|share.coordinator.state.topic\)\.replication.factor=.*#\1.replication.factor=3#" \
      -e "s#^\(transaction.state.log\|share.coordinator.state.topic\)\.min.isr=.*#\1.min.isr=2#" \
      "$KAFKA_CONF/server.properties" > "$d/server.properties"
  printf '%s\n' default.replication.factor=3 min.insync.replicas=2 \
      unclean.leader.election.enable=false >> "$d/server.properties"
  printf 'BROKER_PORT=%s\nCONTROLLER_PORT=%s\n' "$4" "$5" > "$d/ports"
}

cluster_bootstrap() { # DIR -> 127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3
  local i out=
  for i in $(seq 1 $CLUSTER_SIZE); do
    # shellcheck disable=SC1090
    . "$1/b$i/ports"
    out=${out:+$out,}127.0.0.1:$BROKER_PORT
  done
  echo "$out"
}

cluster_ready() { # DIR -> 0 once every log says started and metadata lists every broker
  local i
  for i in $(seq 1 $CLUSTER_SIZE); do log_says_started "$1/b$i" || return 1; done
  [ -n "$KPY" ] || return 0
  PYTHONPATH=$PROBE_PYTHONPATH "$KPY" - "$(cluster_bootstrap "$1")" "$CLUSTER_SIZE" <<'EOF'
import sys
from confluent_kafka.admin import AdminClient
md = AdminClient({"bootstrap.servers": sys.argv[1]}).list_topics(timeout=3)
sys.exit(0 if len(md.brokers) >= int(sys.argv[2]) else 1)
EOF
}

cmd_cluster_start() {
  [ $# -eq 1 ] || usage
  cmd_install
  HEAP=${PRISM_KAFKA_HEAP:-320m}
  local dir t0 i voters='' cid rc
  local -a ports=()
  mkdir -p "$1"; dir=$(cd "$1" && pwd); t0=$(now_ms)
  find_probe_python || log "readiness probe: no python with confluent_kafka; log lines only"
  if [ ! -f "$dir/b1/data/meta.properties" ]; then
    rm -rf "$dir"/b[1-9]
    read -r -a ports <<< "$(free_ports $((2 * CLUSTER_SIZE)))"
    for i in $(seq 1 $CLUSTER_SIZE); do
      voters=${voters:+$voters,}$i@127.0.0.1:${ports[$((2 * i - 1))]}
    done
    cid=$(new_cluster_id)
    local -a formats=()
    for i in $(seq 1 $CLUSTER_SIZE); do  # formatted in parallel: each is a JVM start
      cluster_props "$dir" "$i" "$voters" "${ports[$((2 * i - 2))]}" "${ports[$((2 * i - 1))]}"
      # shellcheck disable=SC2046
      java -Xmx256m $(jvm_log_opts "$dir/b$i") -cp "$LIBS/*" kafka.tools.StorageTool format \
          -t "$cid" -c "$dir/b$i/server.properties" >>"$dir/b$i/format.out" 2>&1 &
      formats+=($!)
    done
    for i in $(seq 1 $CLUSTER_SIZE); do
      wait "${formats[$((i - 1))]}" \
        || { tail -n 20 "$dir/b$i/format.out" >&2; die "kafka storage format of b$i failed"; }
    done
    log "formatted $CLUSTER_SIZE brokers in $dir (cluster id $cid, voters $voters) after $(elapsed "$t0")"
  fi
  for i in $(seq 1 $CLUSTER_SIZE); do
    pid_alive "$dir/b$i/kafka.pid" "$dir/b$i/server.properties" >/dev/null || launch "$dir/b$i"
  done
  rc=0; wait_until "$START_TIMEOUT" "$dir/b1/kafka.pid" cluster_ready "$dir" || rc=$?
  if [ $rc != 0 ]; then
    for i in $(seq 1 $CLUSTER_SIZE); do tail -n 15 "$dir/b$i/kafka.out" >&2 || true; done
    cmd_cluster_stop "$dir"
    die "cluster not up within ${START_TIMEOUT}s (logs: $dir/b*/kafka.out)"
  fi
  log "$CLUSTER_SIZE-broker cluster up in $(elapsed "$t0")"
  cluster_bootstrap "$dir"
}

cmd_cluster_stop() {
  [ $# -eq 1 ] || usage
  local i
  for i in $(seq 1 $CLUSTER_SIZE); do  # in parallel: one stopping alone loses the quorum
    if [ -d "$1/b$i" ]; then stop_dir_server kafka kafka.pid 30 @DIR@/server.properties "$1/b$i" & fi
  done
  wait
}

broker_dir() { # DIR N
  { [ $# -eq 2 ] && [ -d "$1/b$2" ]; } || usage
  (cd "$1/b$2" && pwd)
}

cmd_broker_stop() { stop_dir_server kafka kafka.pid 30 @DIR@/server.properties "$(broker_dir "$@")"; }

cmd_broker_kill() {
  local d pid; d=$(broker_dir "$@")
  if pid=$(pid_alive "$d/kafka.pid" "$d/server.properties"); then
    kill -KILL "$pid"
    for _ in $(seq 1 50); do proc_running "$pid" || break; sleep 0.1; done
    rm -f "$d/kafka.pid"
    log "broker $2 (pid $pid) SIGKILLed"
  else
    log "broker $2 not running"
  fi
}

cmd_broker_start() {
  local d t0; d=$(broker_dir "$@"); t0=$(now_ms)
  HEAP=${PRISM_KAFKA_HEAP:-320m}
  if pid_alive "$d/kafka.pid" "$d/server.properties" >/dev/null; then die "broker $2 already runs"; fi
  # shellcheck disable=SC1091
  . "$d/ports"
  find_probe_python || true
  launch "$d"
  wait_until "$START_TIMEOUT" "$d/kafka.pid" log_says_started "$d" \
    || { tail -n 30 "$d/kafka.out" >&2; die "broker $2 did not start"; }
  wait_until 30 "$d/kafka.pid" metadata_probe "$BROKER_PORT" || die "broker $2: no metadata"
  log "broker $2 back on 127.0.0.1:$BROKER_PORT in $(elapsed "$t0")"
}

case ${1:-} in
  cluster-start) shift; cmd_cluster_start "$@" ;;
  cluster-stop) shift; cmd_cluster_stop "$@" ;;
  broker-stop) shift; cmd_broker_stop "$@" ;;
  broker-kill) shift; cmd_broker_kill "$@" ;;
  broker-start) shift; cmd_broker_start "$@" ;;
  *) run_command "$@" ;;
esac

#!/usr/bin/env bash
# Install each plugin wheel into a fresh venv next to the prism-sdk wheel (third-party versions
# pinned by constraints.txt), start its server, and ask it grpc.health.v1 Check.
#
# usage: tools/check_wheels.sh [PLUGIN ...]     (default: memstore redis kafka; run after
#        `./pants package ::`). The Redis and Kafka servers get a real Redis / Kafka broker
#        from tools/redis.sh and tools/kafka.sh, so their health is SERVING, not just an answer.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
log() { echo "[check_wheels] $*" >&2; }
python="$(command -v python3.11 || command -v python3)"
work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  [[ -d "$work/redis" ]] && bash tools/redis.sh stop "$work/redis" >/dev/null 2>&1 || true
  [[ -d "$work/kafka" ]] && bash tools/kafka.sh stop "$work/kafka" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

sdk_wheel="$(ls dist/prism_sdk-*.whl)"
plugins=("$@")
[[ ${#plugins[@]} -gt 0 ]] || plugins=(memstore redis kafka)
for plugin in "${plugins[@]}"; do
  wheel="$(ls dist/prism_plugin_"$plugin"-*.whl)"
  venv="$work/venv-$plugin"
  log "$plugin: fresh venv with $(basename "$sdk_wheel") + $(basename "$wheel")"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -c constraints.txt \
    "$sdk_wheel" "$wheel"
  env=()
  case "$plugin" in
    redis)
      mkdir -p "$work/redis"
      env+=("PRISM_REDIS_ADDR=127.0.0.1:$(bash tools/redis.sh start "$work/redis")") ;;
    kafka)
      mkdir -p "$work/kafka"
      env+=("PRISM_KAFKA_BOOTSTRAP_SERVERS=$(bash tools/kafka.sh start "$work/kafka")") ;;
  esac
  out="$work/$plugin.out"
  env "${env[@]}" "$venv/bin/prism-plugin-$plugin" --port 0 >"$out" 2>"$work/$plugin.err" &
  pids+=("$!")
  address=""
  for _ in $(seq 1 300); do
    address="$(sed -n 's/.* listening on //p' "$out" | head -n1)"
    [[ -n "$address" ]] && break
    kill -0 "${pids[-1]}" 2>/dev/null || { cat "$work/$plugin.err" >&2; log "$plugin exited"; exit 1; }
    sleep 0.1
  done
  [[ -n "$address" ]] || { cat "$work/$plugin.err" >&2; log "$plugin did not start"; exit 1; }
  status="$("$venv/bin/python" - "$address" <<'PY'
import sys, time
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

with grpc.insecure_channel(sys.argv[1]) as channel:
    stub = health_pb2_grpc.HealthStub(channel)
    deadline = time.monotonic() + 30
    while True:  # readiness follows the first health round
        status = stub.Check(health_pb2.HealthCheckRequest(), timeout=5).status
        if status == health_pb2.HealthCheckResponse.SERVING or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    print(health_pb2.HealthCheckResponse.ServingStatus.Name(status))
PY
)"
  log "$plugin: $address grpc.health.v1 -> $status"
  [[ "$status" == SERVING ]] || { cat "$work/$plugin.err" >&2; exit 1; }
  kill "${pids[-1]}"
  wait "${pids[-1]}" || true
done
log "every plugin wheel installs beside prism-sdk and serves grpc.health.v1"

#!/usr/bin/env bash
# Install each plugin wheel into a fresh venv next to the prism-sdk wheel (third-party versions
# pinned by constraints.txt), start its server, and ask it grpc.health.v1 Check.
#
# usage: tools/check_wheels.sh [PLUGIN ...]     (default: every plugin folder, one with a
#        __main__.py, as ./prism finds them; run after `./pants package ::`). A plugin that
#        needs a server has tests/plugins/<name>/servers.sh: `start DIR` starts a real one and
#        prints the plugin's settings (KEY=VALUE lines), `stop DIR` stops it, so its health is
#        SERVING, not just an answer. Other plugin wheels it requires come from dist/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
log() { echo "[check_wheels] $*" >&2; }
python="$(command -v python3.11 || command -v python3)"
work="$(mktemp -d)"
pids=()
hooks=()  # "servers.sh|DIR" of every server started
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for hook in "${hooks[@]}"; do bash "${hook%%|*}" stop "${hook##*|}" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT

sdk_wheel="$(ls dist/prism_sdk-*.whl)"
plugins=("$@")
if [[ ${#plugins[@]} -eq 0 ]]; then
  for main in src/python/prism/plugins/*/__main__.py; do
    [[ -e "$main" ]] && plugins+=("$(basename "$(dirname "$main")")")
  done
fi
for plugin in "${plugins[@]}"; do
  wheel="$(ls dist/prism_plugin_"$plugin"-*.whl)"
  venv="$work/venv-$plugin"
  log "$plugin: fresh venv with $(basename "$sdk_wheel") + $(basename "$wheel")"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -c constraints.txt \
    --find-links dist "$sdk_wheel" "$wheel"
  env=()
  servers="tests/plugins/$plugin/servers.sh"
  if [[ -f "$servers" ]]; then
    mkdir -p "$work/servers-$plugin"
    hooks+=("$servers|$work/servers-$plugin")
    settings="$(bash "$servers" start "$work/servers-$plugin")"
    mapfile -t env <<<"$settings"
    log "$plugin: $servers start -> ${env[*]}"
  fi
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

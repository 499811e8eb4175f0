#!/usr/bin/env bash
# Run the ghz suites against a running gateway; each writes a JSON, CSV and HTML report.
#
#   ./prism up --config tests/plugins/NAME/ghz/prism.yaml    # in another terminal
#   tests/load/ghz/run.sh --plugin NAME     # the suites tests/plugins/NAME/ghz/suites lists
#   tests/load/ghz/run.sh --addr 127.0.0.1:9000 kv_set kv_get   # plain `./prism up` (MemStore)
#   tests/load/ghz/run.sh --plugin-addr 127.0.0.1:9300 lifecycle_health_check
#   tests/load/ghz/run.sh                   # every suite (a gateway serving every namespace)
#
# A plugin's test folder gets its suites by holding ghz/prism.yaml (namespaces on the plugin)
# and ghz/suites (suite names; --plugin also takes that ghz folder's path); no list here.
# A suite is a ghz JSON config next to this script (server reflection, no .proto needed).
# lifecycle_* suites call a plugin directly (the proxy does not route LifecycleInterface):
# they run only with --plugin-addr (e.g. `./prism serve memstore --port 9300`). Suites that
# read the key "ghz-seed" get it written first (seed.json), a suite with a <suite>_seed.json
# gets that run first; a suite with a <suite>_feed.json
# runs that publisher alongside (Subscribe needs messages to arrive). ghz writes the JSON;
# ghz-report (tools/ghzreport) writes CSV and HTML of the same run. Reports:
# $PRISM_GHZ_REPORTS, default reports/ghz/ at the repo root. PRISM_GHZ_DURATION (e.g. 2s)
# overrides every suite's duration. Exit status 1 unless every call of every suite succeeded.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
TOOLS=${PRISM_TOOLS_DIR:-$ROOT/tools}
ADDR=${PRISM_ADDR:-127.0.0.1:8980}
PLUGIN_ADDR=${PRISM_PLUGIN_ADDR:-}
REPORTS=${PRISM_GHZ_REPORTS:-$ROOT/reports/ghz}
PLUGIN=

while [ $# -gt 0 ]; do
  case $1 in
    --addr) ADDR=$2; shift 2 ;;
    --plugin-addr) PLUGIN_ADDR=$2; shift 2 ;;
    --plugin) PLUGIN=$2; shift 2 ;;
    -h|--help) sed -n '2,21p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) break ;;
  esac
done
SUITES=("$@")
if [ -n "$PLUGIN" ] && [ ${#SUITES[@]} -eq 0 ]; then
  dir=$PLUGIN
  [[ $dir == */* ]] || dir=$ROOT/tests/plugins/$PLUGIN/ghz
  [ -f "$dir/suites" ] || { echo "run.sh: no suites file $dir/suites" >&2; exit 2; }
  read -r -a SUITES <<<"$(sed 's/#.*//' "$dir/suites" | tr '\n' ' ')"
  [ ${#SUITES[@]} -gt 0 ] || { echo "run.sh: $dir/suites lists no suite" >&2; exit 2; }
fi
if [ ${#SUITES[@]} -eq 0 ]; then
  for cfg in "$HERE"/*.json; do
    suite=$(basename "$cfg" .json)
    case $suite in seed|*_feed|*_seed) continue ;; esac
    if [[ $suite == lifecycle_* && -z $PLUGIN_ADDR ]]; then
      echo "run.sh: $suite left out: it needs --plugin-addr" >&2; continue
    fi
    SUITES+=("$suite")
  done
fi

GHZ=$(bash "$TOOLS/ghz.sh" install)
GHZ_REPORT=$(dirname "$GHZ")/ghz-report
mkdir -p "$REPORTS"
PY=${PRISM_PYTHON:-$(command -v python3 || command -v python)}
extra=()
[ -n "${PRISM_GHZ_DURATION:-}" ] && extra+=(--duration "$PRISM_GHZ_DURATION")
failed=0
seeded=0
for suite in "${SUITES[@]}"; do
  cfg=$HERE/$suite.json
  [ -f "$cfg" ] || { echo "run.sh: no suite $cfg" >&2; exit 2; }
  addr=$ADDR
  if [[ $suite == lifecycle_* ]]; then
    [ -n "$PLUGIN_ADDR" ] || { echo "run.sh: $suite needs --plugin-addr" >&2; exit 2; }
    addr=$PLUGIN_ADDR
  fi
  if [ $seeded = 0 ] && grep -q '"ghz-seed"' "$cfg"; then
    "$GHZ" --config "$HERE/seed.json" --format json --output "$REPORTS/seed.json" "$ADDR" || true
    "$PY" "$HERE/../ghz_report.py" seed "$REPORTS/seed.json" >/dev/null || {
      echo "run.sh: seeding with seed.json failed" >&2; failed=1; continue; }
    seeded=1
  fi
  if [ -f "$HERE/${suite}_seed.json" ]; then  # this suite's own data, written first
    if ! "$GHZ" --config "$HERE/${suite}_seed.json" --format json "$ADDR" >/dev/null; then
      echo "run.sh: $suite: seeding with ${suite}_seed.json failed" >&2; failed=1; continue
    fi
  fi
  feed_pid=
  if [ -f "$HERE/${suite}_feed.json" ]; then
    # Runs until the suite is done (then SIGINT: ghz stops and writes its report).
    "$GHZ" --config "$HERE/${suite}_feed.json" --duration 1h --format json \
      --output "$REPORTS/${suite}_feed.json" "$ADDR" &
    feed_pid=$!
    sleep 0.5
  fi
  out=$REPORTS/$suite
  "$GHZ" --config "$cfg" "${extra[@]}" --format json --output "$out.json" "$addr" || true
  if [ -n "$feed_pid" ]; then
    kill -INT "$feed_pid"; wait "$feed_pid" || true
  fi
  [ -s "$out.json" ] || { echo "run.sh: $suite: ghz wrote no report" >&2; failed=1; continue; }
  "$GHZ_REPORT" "$out.json" "$out.csv" "$out.html" || failed=1
  "$PY" "$HERE/../ghz_report.py" "$suite" "$out.json" || failed=1
done
exit $failed

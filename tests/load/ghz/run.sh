#!/usr/bin/env bash
# Run the ghz suites against a running gateway and write one JSON report per suite.
#
#   ./prism up --config tests/load/ghz/prism.yaml      # in another terminal
#   tests/load/ghz/run.sh                              # kv_*, pubsub_publish, registry_*
#   tests/load/ghz/run.sh --addr 127.0.0.1:9000 kv_set kv_get   # plain `./prism up` (no pubsub)
#
# Suites are the *.json ghz configs next to this script (server reflection, no .proto needed).
# ghz is installed by tools/ghz.sh (pinned version). Reports: $PRISM_GHZ_REPORTS, default
# reports/ghz/ at the repo root, as <suite>.json. PRISM_GHZ_DURATION (e.g. 2s) overrides every
# suite's duration. Exit status 1 if any request of any suite did not answer OK.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
TOOLS=${PRISM_TOOLS_DIR:-$ROOT/tools}
ADDR=${PRISM_ADDR:-127.0.0.1:8980}
REPORTS=${PRISM_GHZ_REPORTS:-$ROOT/reports/ghz}

while [ $# -gt 0 ]; do
  case $1 in
    --addr) ADDR=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) break ;;
  esac
done
SUITES=("$@")
[ ${#SUITES[@]} -gt 0 ] || SUITES=(kv_set kv_get pubsub_publish registry_register registry_enumerate registry_multicast)

GHZ=$(bash "$TOOLS/ghz.sh" install)
mkdir -p "$REPORTS"
PY=${PRISM_PYTHON:-$(command -v python3 || command -v python)}
failed=0
for suite in "${SUITES[@]}"; do
  cfg=$HERE/$suite.json
  [ -f "$cfg" ] || { echo "run.sh: no suite $cfg" >&2; exit 2; }
  extra=()
  [ -n "${PRISM_GHZ_DURATION:-}" ] && extra+=(--duration "$PRISM_GHZ_DURATION")
  if [ -f "$HERE/${suite}_seed.json" ]; then
    if ! "$GHZ" --config "$HERE/${suite}_seed.json" --format json "$ADDR" >/dev/null; then
      echo "run.sh: $suite: seeding with ${suite}_seed.json failed" >&2; failed=1; continue
    fi
  fi
  out=$REPORTS/$suite.json
  "$GHZ" --config "$cfg" "${extra[@]}" --format json --output "$out" "$ADDR" || true
  [ -s "$out" ] || { echo "run.sh: $suite: ghz wrote no report" >&2; failed=1; continue; }
  "$PY" - "$suite" "$out" <<'PYEOF' || failed=1
import json, sys
suite, path = sys.argv[1], sys.argv[2]
r = json.load(open(path))
codes = r.get("statusCodeDistribution") or {}
lat = {d["percentage"]: d["latency"] / 1e6 for d in r.get("latencyDistribution") or []}
print(f"{suite:16s} count={r['count']:<6d} rps={r['rps']:.1f} "
      f"p50={lat.get(50, 0):.2f}ms p90={lat.get(90, 0):.2f}ms p99={lat.get(99, 0):.2f}ms "
      f"avg={r['average'] / 1e6:.2f}ms codes={codes} -> {path}")
bad = {k: v for k, v in codes.items() if k != "OK"}
if bad or not r["count"]:
    print(f"{suite}: not every request was OK: {codes} {r.get('errorDistribution') or ''}",
          file=sys.stderr)
    sys.exit(1)
PYEOF
done
exit $failed

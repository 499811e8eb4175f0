#!/usr/bin/env bash
# Pattern-level figures of the multicast registry for docs/loadtest.md (not a test: figures go
# to reports/loadtest/*.json and the summaries to stdout, nothing is asserted):
#   1. the memo's run: register at 100/s for 60 s;
#   2. register at rising constant rates (10 s each) until p95 reaches 5 ms;
#   3. multicast to 1,000 identities (one group), each with a live receiver;
#   4. upstream's mixed run: 100/s for 60 s, 50% register / 30% enumerate / 20% multicast.
# Usage: benchmarks/loadtest/registry.sh [REDIS_ADDR]
#   Without REDIS_ADDR it starts a Redis of its own (tools/redis.sh) and stops it afterwards.
#   PRISM_LOADTEST: the command to run (default ./prism-loadtest); RATES: the rates of step 2.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
lt=${PRISM_LOADTEST:-./prism-loadtest}
out=reports/loadtest
mkdir -p "$out"
addr=${1:-}
if [[ -z "$addr" ]]; then
  dir=$(mktemp -d /tmp/prism-bench-redis.XXXXXX)
  trap 'bash tools/redis.sh stop "$dir" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
  addr="127.0.0.1:$(bash tools/redis.sh start "$dir")"
fi
p95() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["operations"][sys.argv[2]]["latency_ms"]["p95"])' "$@"; }
run() { # run NAME ARGS...: one prism-loadtest run, summary to stdout, JSON to $out/NAME.json
  local name=$1; shift
  echo "=== $name: prism-loadtest $* --redis-addr $addr"
  $lt "$@" --redis-addr "$addr" --quiet --json "$out/$name.json" || echo "(exit status $?)"
}

run register_100 register -r 100 -d 60s
for rate in ${RATES:-200 400 800 1200 1600 2400}; do
  run "register_$rate" register -r "$rate" -d 10s
  p=$(p95 "$out/register_$rate.json" register)
  echo "register at $rate/s: p95 $p ms"
  python3 -c 'import sys; sys.exit(float(sys.argv[1]) >= 5.0)' "$p" || break
done
run multicast_1000 multicast -r 2 -d 30s --identities 1000 --groups 1
run mixed_100 mixed -r 100 -d 60s --register-pct 50 --enumerate-pct 30 --multicast-pct 20

#!/usr/bin/env bash
# A real Redis for this plugin outside Pants (tools/check_wheels.sh):
#   start DIR   start one in DIR, print the plugin's settings (KEY=VALUE lines)
#   stop DIR    stop it
set -euo pipefail
tools="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../../tools" && pwd)"
case "${1:-}" in
  start) echo "PRISM_REDIS_ADDR=127.0.0.1:$(bash "$tools/redis.sh" start "$2")" ;;
  stop) bash "$tools/redis.sh" stop "$2" ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac

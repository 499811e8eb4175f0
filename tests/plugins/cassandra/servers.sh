#!/usr/bin/env bash
# A real Cassandra node for this plugin outside Pants (tools/check_wheels.sh):
#   start DIR   start one in DIR, print the plugin's settings (KEY=VALUE lines)
#   stop DIR    stop it
set -euo pipefail
tools="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../../tools" && pwd)"
case "${1:-}" in
  start) echo "PRISM_CASSANDRA_ADDR=$(bash "$tools/cassandra.sh" start "$2")" ;;
  stop) bash "$tools/cassandra.sh" stop "$2" ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac

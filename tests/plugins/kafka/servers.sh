#!/usr/bin/env bash
# A real Kafka broker for this plugin outside Pants (tools/check_wheels.sh):
#   start DIR   start one in DIR, print the plugin's settings (KEY=VALUE lines)
#   stop DIR    stop it
set -euo pipefail
tools="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../../tools" && pwd)"
case "${1:-}" in
  start) echo "PRISM_KAFKA_BOOTSTRAP_SERVERS=$(bash "$tools/kafka.sh" start "$2")" ;;
  stop) bash "$tools/kafka.sh" stop "$2" ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac

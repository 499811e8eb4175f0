#!/usr/bin/env bash
# Installed wheels work like the repo, from a package index: `./pants publish` the wheels
# (prism, prism-proxy, prism-sdk, prism-plugin-PLUGIN; their `repositories=["@prism"]`) to a
# real index server (pypiserver) on 127.0.0.1, pip install `prism` and `prism-plugin-PLUGIN`
# from it into a fresh venv, and serve a namespace on the plugin with `prism up --config`:
# Set, then Get, through the gateway.
#
# usage: tools/check_index.sh [PLUGIN]    (default: memstore, which needs no server).
#        pypiserver: a venv of its own, pinned by tools/index-constraints.txt; the installed
#        third-party set is pinned by constraints.txt. The first `./pants publish` on a machine
#        builds Pants' twine tool (minutes); later runs reuse it.
#
# Prism's names are installed from the local index only: `prism`, `prism-proxy` and `prism-sdk`
# are also other projects' names on the public index, with higher versions, so adding the local
# index as an extra index would install theirs. pip asks the local index alone; pypiserver
# redirects the names it does not hold (third-party requirements) to the index this machine's
# pip is configured with (PIP_INDEX_URL / pip config's index-url; else pypiserver's default).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
PRISM_TOOL=check_index
# shellcheck source=tools/_lib.sh
. tools/_lib.sh
plugin="${1:-memstore}"
python="$(command -v python3.11 || command -v python3)"
work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
t0=$(now_ms)

targets=(//:prism-sdk src/python/prism/proxy:dist src/python/prism/cli:dist)
targets+=("src/python/prism/plugins/$plugin:dist")
[[ -d "src/python/prism/plugins/$plugin" ]] || die "no plugin folder src/python/prism/plugins/$plugin"

log "index server (pypiserver) in a venv"
"$python" -m venv "$work/tools"
"$work/tools/bin/pip" install --quiet -c tools/index-constraints.txt pypiserver

port="$(free_port)"
index="http://127.0.0.1:$port"
upstream="${PIP_INDEX_URL:-$("$python" -m pip config get global.index-url 2>/dev/null || true)}"
fallback=()
[[ -n "$upstream" ]] && fallback=(--fallback-url "$upstream")
mkdir -p "$work/packages"
# -a . -P .: no authentication, uploads included (a scratch index on loopback).
"$work/tools/bin/pypi-server" run -i 127.0.0.1 -p "$port" -a . -P . "${fallback[@]}" \
  "$work/packages" >"$work/index.log" 2>&1 &
pids+=("$!")
echo "${pids[-1]}" >"$work/index.pid"
probe() { "$python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$1"; }
wait_until 60 "$work/index.pid" probe "$index/simple/" \
  || { cat "$work/index.log" >&2; die "pypiserver did not answer on $index"; }
log "pypiserver on $index"

log "./pants publish ${targets[*]} (repository @prism = $index)"
TWINE_REPOSITORY_URL_PRISM="$index/" TWINE_USERNAME_PRISM=prism TWINE_PASSWORD_PRISM=unused \
  ./pants publish "${targets[@]}" >"$work/publish.log" 2>&1 \
  || { cat "$work/publish.log" >&2; die "./pants publish failed"; }
grep -a "published to @prism" "$work/publish.log" >&2 || true

log "fresh venv: pip install --index-url $index/simple/ prism prism-plugin-$plugin"
"$python" -m venv "$work/venv"
# Only the local index (and its redirects): no find-links, no machine-wide extra index.
env -u PIP_FIND_LINKS -u PIP_EXTRA_INDEX_URL PIP_CONFIG_FILE=/dev/null \
  "$work/venv/bin/pip" install --quiet --disable-pip-version-check \
  --index-url "$index/simple/" -c constraints.txt prism "prism-plugin-$plugin"
for dist in prism prism-proxy prism-sdk "prism-plugin-$plugin"; do
  version="$("$work/venv/bin/python" -c 'import sys
from importlib.metadata import version
print(version(sys.argv[1]))' "$dist")"
  want="$(basename "$(ls "$work/packages/$(tr - _ <<<"$dist")"-[0-9]*.whl)" | cut -d- -f2)"
  [[ "$version" == "$want" ]] || die "$dist $version installed, not the published $want"
done

log "prism up --config: namespace 'default' on $plugin"
printf 'namespaces:\n  default: {plugin: %s}\n' "$plugin" >"$work/prism.yaml"
cd "$work"  # nothing of the checkout on sys.path
"$work/venv/bin/prism" up --config prism.yaml --port 0 >"$work/up.out" 2>"$work/up.err" &
pids+=("$!")
echo "${pids[-1]}" >"$work/up.pid"
listening() { grep -q "prism proxy listening on " "$work/up.out"; }
wait_until 120 "$work/up.pid" listening \
  || { cat "$work/up.out" "$work/up.err" >&2; die "prism up did not start"; }
addr="$(sed -n 's/^prism proxy listening on //p' "$work/up.out" | head -n1)"
value="from-index-$RANDOM"
"$work/venv/bin/prism" kv set --addr "$addr" greeting "$value" >&2
got="$("$work/venv/bin/prism" kv get --addr "$addr" greeting)"
[[ "$got" == "$value" ]] || { cat "$work/up.err" >&2; die "Get returned '$got', not '$value'"; }
kill -TERM "${pids[-1]}"
wait "${pids[-1]}" || die "prism up exited $? on SIGTERM"
log "installed from $index: prism up served Set/Get on $plugin ($(elapsed "$t0"))"

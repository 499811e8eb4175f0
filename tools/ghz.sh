#!/usr/bin/env bash
# ghz (gRPC load generator), built from its Go module at a pinned version.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PRISM_TOOL=ghz
# shellcheck source-path=SCRIPTDIR source=_lib.sh
. "$HERE/_lib.sh"

# v0.120.0 (2024-05-30) is the newest release the Go module proxy serves
# (`go list -m -versions` lists only up to v0.93.0; the newer tags resolve by exact version).
GHZ_VERSION=${PRISM_GHZ_VERSION:-v0.120.0}
BIN_DIR=$PRISM_CACHE/bin
GHZ=$BIN_DIR/ghz
# ghz writes one format per run; ghz-report (tools/ghzreport, ghz's own printer) rewrites a
# run's JSON report as CSV and HTML, so all three describe the same run.
REPORT_SRC=$HERE/ghzreport
GHZ_REPORT=$BIN_DIR/ghz-report

usage() {
  cat >&2 <<'EOF'
usage: tools/ghz.sh COMMAND
  install   go install github.com/bojand/ghz/cmd/ghz@v0.120.0 into $PRISM_CACHE/bin
            (PRISM_CACHE defaults to ~/.cache/prism) unless that version is already there;
            prints the path of the ghz binary on stdout. Needs Go >= 1.18 on PATH
            (or in /usr/local/go/bin). First build: about 2.5 min on 2 cores.
            Also builds ghz-report next to it (JSON report -> CSV + HTML).
  path      print the path of the installed ghz (exit 1 if not installed)
EOF
  exit 2
}

ghz_ok() { [ -x "$GHZ" ] && [ "$("$GHZ" --version 2>&1)" = "${GHZ_VERSION#v}" ]; }
installed_ok() { ghz_ok && report_ok; }

report_sum() { cat "$REPORT_SRC"/main.go "$REPORT_SRC"/go.mod "$REPORT_SRC"/go.sum | sha256sum | cut -c1-16; }
report_ok() { [ -x "$GHZ_REPORT" ] && [ "$(cat "$GHZ_REPORT.sum" 2>/dev/null)" = "$(report_sum)" ]; }

cmd_install() {
  if installed_ok; then
    log "ghz ${GHZ_VERSION} already in $GHZ"
    echo "$GHZ"; return 0
  fi
  if ! command -v go >/dev/null 2>&1; then
    [ -x /usr/local/go/bin/go ] && export PATH=/usr/local/go/bin:$PATH
  fi
  command -v go >/dev/null 2>&1 || die "go not found on PATH: ghz is built with \`go install\` (Go >= 1.18 needed)"
  mkdir -p "$BIN_DIR"
  (
    flock -w 900 9 || die "timed out waiting for $BIN_DIR/.ghz.lock"
    installed_ok && exit 0
    local t0; t0=$(now_ms)
    if ! ghz_ok; then
      log "go install github.com/bojand/ghz/cmd/ghz@${GHZ_VERSION} -> $BIN_DIR ($(go version))"
      GOBIN=$BIN_DIR GOFLAGS="${GOFLAGS:-} -buildvcs=false" \
        go install -ldflags "-s -w -X main.version=${GHZ_VERSION#v}" \
          "github.com/bojand/ghz/cmd/ghz@${GHZ_VERSION}" >&2 \
        || die "go install of ghz ${GHZ_VERSION} failed (see above)"
    fi
    if ! report_ok; then
      (cd "$REPORT_SRC" && GOFLAGS="${GOFLAGS:-} -buildvcs=false" \
        go build -ldflags "-s -w" -o "$GHZ_REPORT" .) >&2 \
        || die "go build of tools/ghzreport failed (see above)"
      report_sum >"$GHZ_REPORT.sum"
    fi
    log "built in $(elapsed "$t0")"
  ) 9>"$BIN_DIR/.ghz.lock"
  report_ok || die "tools/ghzreport built but $GHZ_REPORT is missing"
  ghz_ok || die "ghz built but \`$GHZ --version\` does not print ${GHZ_VERSION#v}"
  log "ghz --version: $("$GHZ" --version 2>&1)"
  echo "$GHZ"
}

[ $# -ge 1 ] || usage
case $1 in
  install) cmd_install ;;
  path)
    installed_ok || die "ghz ${GHZ_VERSION} not installed: run tools/ghz.sh install"
    echo "$GHZ" ;;
  -h|--help|help) usage ;;
  *) log "unknown command: $1"; usage ;;
esac

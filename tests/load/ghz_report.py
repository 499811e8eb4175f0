"""Read a ghz JSON report: the one-line summary (p50/p95/p99) and the all-OK verdict.

Used by tests/load/ghz/run.sh (``python ghz_report.py SUITE REPORT.json``, exit 1 unless
every call succeeded) and by the ghz tests, so both print and judge reports the same way.
The memo's latency targets are p95, so p95 sits between p50 and p99 in every summary.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["CLIENT_CANCEL", "failures", "percentiles_ms", "summary"]

# A Subscribe stream never ends on its own; ghz closes it after --stream-call-count messages
# and reports that call as Canceled with this message. A suite tagged "ends-by: client-cancel"
# counts exactly that as success (a stream that got no message times out instead).
CLIENT_CANCEL = "rpc error: code = Canceled desc = context canceled"


def _client_cancel_suite(report: dict[str, Any]) -> bool:
    return (report.get("tags") or {}).get("ends-by") == "client-cancel"


def percentiles_ms(report: dict[str, Any]) -> dict[int, float]:
    """p50/p95/p99 in ms: ghz's distribution of OK calls, else (client-cancel) every call."""
    dist = report.get("latencyDistribution") or []
    if dist:
        return {d["percentage"]: d["latency"] / 1e6 for d in dist}
    lat = sorted(d["latency"] / 1e6 for d in report.get("details") or [])
    if not lat:
        return {}
    return {p: lat[min(len(lat) - 1, int(len(lat) * p / 100))] for p in (50, 95, 99)}


def summary(name: str, report: dict[str, Any]) -> str:
    pct = percentiles_ms(report)
    return (
        f"{name:24s} count={report['count']:<6d} rps={report['rps']:.1f} "
        f"p50={pct.get(50, 0):.2f}ms p95={pct.get(95, 0):.2f}ms p99={pct.get(99, 0):.2f}ms "
        f"avg={report['average'] / 1e6:.2f}ms codes={report.get('statusCodeDistribution') or {}}"
    )


def failures(report: dict[str, Any]) -> dict[str, int]:
    """Calls that did not succeed, by error message (empty: every call succeeded)."""
    errors: dict[str, int] = dict(report.get("errorDistribution") or {})
    codes: dict[str, int] = report.get("statusCodeDistribution") or {}
    if _client_cancel_suite(report):
        errors.pop(CLIENT_CANCEL, None)
        codes = {k: v for k, v in codes.items() if k != "Canceled"}
    bad = {f"status {k}": v for k, v in codes.items() if k != "OK"}
    if not report["count"]:
        bad["no calls"] = 1
    return {**errors, **bad}


def main(argv: list[str]) -> int:
    name, path = argv
    report = json.loads(Path(path).read_text())
    print(f"{summary(name, report)} -> {path}")
    bad = failures(report)
    if bad:
        print(f"{name}: not every call succeeded: {bad}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

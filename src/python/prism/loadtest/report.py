"""Reports: the JSON document (``--json``), the human summary and the progress line.

One dict is built once and everything is rendered from it, so the summary and the JSON always
show the same figures. The JSON also records how the figures were produced (the command, the
machine: Python, CPU count, load average, date), because a latency figure without its machine
and load is not comparable with anything.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from prism.loadtest.runner import Progress, RunResult
from prism.loadtest.stats import PERCENTILES, OpStats

__all__ = ["SCHEMA", "build_report", "format_progress", "format_summary", "machine", "write_json"]

SCHEMA = "prism-loadtest/1"


def machine() -> dict[str, Any]:
    """Where the run happened."""
    try:
        load: list[float] | None = [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover - not on every platform
        load = None
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "load_average": load,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def _op(stats: OpStats) -> dict[str, Any]:
    count = stats.count
    return {
        "count": count,
        "ok": stats.ok,
        "errors": dict(sorted(stats.errors.items())),
        "success_rate": round(stats.ok / count, 6) if count else 0.0,
        "latency_ms": stats.latency.summary_ms(),
        "service_ms": stats.service.summary_ms(),
    }


def build_report(
    result: RunResult,
    *,
    scenario: str,
    plugin: str,
    command: Sequence[str],
    concurrency: int,
    custom: Mapping[str, Any] | None = None,
    settings: Mapping[str, object] | None = None,
) -> dict[str, Any]:
    """The report document (the ``--json`` schema, ``SCHEMA``)."""
    profile = result.profile
    run_time = min(result.elapsed, profile.duration) if result.interrupted else profile.duration
    total = result.recorder.total
    return {
        "schema": SCHEMA,
        "tool": "prism-loadtest",
        "scenario": scenario,
        "plugin": plugin,
        "command": list(command),
        "machine": machine(),
        "profile": {"name": profile.name, "duration_s": profile.duration, **profile.params},
        "concurrency": concurrency,
        "interrupted": result.interrupted,
        "elapsed_s": round(result.elapsed, 3),
        "target": {
            "ops": result.target_ops,
            "rate": round(result.target_ops / run_time, 2) if run_time > 0 else 0.0,
        },
        "achieved": {
            "issued": result.issued,
            "completed": result.completed,
            "ok": total.ok,
            "missed": result.missed,
            "unfinished": result.unfinished,
            "rate": round(result.completed / run_time, 2) if run_time > 0 else 0.0,
        },
        "errors": dict(sorted(total.errors.items())),
        "operations": {name: _op(s) for name, s in sorted(result.recorder.ops.items())},
        "custom": dict(custom or {}),
        "settings": dict(settings or {}),
    }


def _latency_lines(summary: Mapping[str, float], indent: str = "  ") -> list[str]:
    lines = [
        f"{indent}Latency {name.upper():<5}  {summary[name]:10.3f} ms" for name, _ in PERCENTILES
    ]
    lines.append(f"{indent}Latency MAX    {summary['max']:10.3f} ms")
    return lines


def format_summary(report: Mapping[str, Any]) -> str:
    """The human summary (the memo's Appendix B layout, one block per operation)."""
    profile = report["profile"]
    params = ", ".join(f"{k}={v:g}" for k, v in profile.items() if k not in ("name",))
    head = [
        f"prism-loadtest {report['scenario']} on {report['plugin']}: {profile['name']} ({params}),"
        f" concurrency {report['concurrency']}"
        + ("  [INTERRUPTED: partial]" if report["interrupted"] else ""),
        f"  Target:           {report['target']['ops']} ops at {report['target']['rate']:.1f} ops/s",
        f"  Achieved:         {report['achieved']['completed']} ops at "
        f"{report['achieved']['rate']:.1f} ops/s"
        f" (missed {report['achieved']['missed']}, unfinished {report['achieved']['unfinished']})",
    ]
    blocks = ["\n".join(head)]
    for name, op in report["operations"].items():
        lines = [
            f"{name.capitalize()} Operations:",
            f"  Total Requests:   {op['count']}",
            f"  Success Rate:     {op['success_rate'] * 100:.2f}%",
        ]
        lines += [f"  Errors:           {kind} {n}" for kind, n in op["errors"].items()]
        lines += _latency_lines(op["latency_ms"])
        svc = op["service_ms"]
        lines.append(
            f"  Service P50/P99  {svc['p50']:.3f} / {svc['p99']:.3f} ms (from actual start)"
        )
        blocks.append("\n".join(lines))
    custom = report["custom"]
    if "subscribers" in custom:
        lines = [
            f"Delivery ({custom['published']} published, settled in {custom['settle_seconds']} s):"
        ]
        for sub in custom["subscribers"]:
            lat = sub["latency_ms"]
            lines.append(
                f"  {sub['subscriber_id']}: {sub['received']} received,"
                f" delivery {sub['delivery_rate'] * 100:.2f}%, duplicates {sub['duplicates']},"
                f" end-to-end p50 {lat['p50']:.3f} / p99 {lat['p99']:.3f} / max {lat['max']:.3f} ms"
            )
        blocks.append("\n".join(lines))
    elif "get_hits" in custom:
        blocks.append(f"Gets: {custom['get_hits']} hits, {custom['get_misses']} misses")
    m = report["machine"]
    blocks.append(
        f"Machine: {m['cpu_count']} CPUs, load average {m['load_average']},"
        f" Python {m['python']}, {m['date']}"
    )
    return "\n\n".join(blocks)


def format_progress(p: Progress) -> str:
    """One progress line (stderr, once a second)."""
    return (
        f"[{p.elapsed:6.1f}s] {p.interval_rate:8.1f} ops/s (target {p.target_rate:8.1f})"
        f"  p99 {p.p99_ms:9.3f} ms  errors {p.errors}  in-flight {p.in_flight}"
    )


def write_json(report: Mapping[str, Any], path: str | Path) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n", encoding="utf-8")

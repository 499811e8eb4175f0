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
from prism.loadtest.stats import OpStats

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


def _ms(value: float) -> str:
    """5.0 -> "5ms", 4.871 -> "4.871ms" (the memo's "5ms", without hiding sub-ms figures)."""
    return f"{value:.3f}".rstrip("0").rstrip(".") + "ms"


def _line(label: str, value: object) -> str:
    """One summary line: label and colon padded to the memo's column ("  Total Requests:   N")."""
    return f"  {label + ':':<17} {value}"


def _latency_lines(summary: Mapping[str, float], label: str = "Latency") -> list[str]:
    """P95 and P99 first (Appendix B's two lines), then P50, P99.9 and Max."""
    order = (("P95", "p95"), ("P99", "p99"), ("P50", "p50"), ("P99.9", "p999"), ("Max", "max"))
    return [_line(f"{label} {name}", _ms(summary[key])) for name, key in order]


def _delivery_lines(d: Mapping[str, Any]) -> list[str]:
    lines = [
        f"Multicast Delivery (counted at receipt by {d['receivers']} live receivers"
        f" in the {d.get('receivers_in', 'generator process')},"
        f" settled in {d['settle_seconds']} s):",
        _line("Multicasts", d["multicasts"]),
        _line("Targets", d["targets"]),
        _line("Delivered", d["delivered"]),
        _line("Failed", d["failed"]),
        _line("No Receiver", d["no_receiver"]),
        _line("Delivery Rate", f"{d['delivery_rate'] * 100:.2f}%"),
    ]
    if d.get("receivers_error"):
        lines.append(_line("Receivers", f"ERROR: {d['receivers_error']}"))
    if d["duplicates"] or d["receiver_errors"]:
        lines.append(
            _line("Duplicates", f"{d['duplicates']} (receiver errors {d['receiver_errors']})")
        )
    lines += _latency_lines(d["latency_ms"], "Delivery")[:3]
    lines += _latency_lines(d["fanout_ms"], "Fan-out")[:2]
    return lines


def format_summary(report: Mapping[str, Any]) -> str:
    """The human summary (the memo's Appendix B layout, one block per operation)."""
    profile = report["profile"]
    params = ", ".join(f"{k}={v:g}" for k, v in profile.items() if k not in ("name",))
    head = [
        f"prism-loadtest {report['scenario']} on {report['plugin']}: {profile['name']} ({params}),"
        f" concurrency {report['concurrency']}"
        + ("  [INTERRUPTED: partial]" if report["interrupted"] else ""),
        _line("Target", f"{report['target']['ops']} ops at {report['target']['rate']:.1f} ops/s"),
        _line(
            "Achieved",
            f"{report['achieved']['completed']} ops at {report['achieved']['rate']:.1f} ops/s"
            f" (missed {report['achieved']['missed']},"
            f" unfinished {report['achieved']['unfinished']})",
        ),
    ]
    blocks = ["\n".join(head)]
    for name, op in report["operations"].items():
        lines = [
            f"{name.capitalize()} Operations:",
            _line("Total Requests", op["count"]),
            _line("Success Rate", f"{op['success_rate'] * 100:.2f}%"),
        ]
        lines += _latency_lines(op["latency_ms"])
        lines += [_line("Errors", f"{kind} {n}") for kind, n in op["errors"].items()]
        svc = op["service_ms"]
        lines.append(
            _line("Service P50/P99", f"{_ms(svc['p50'])} / {_ms(svc['p99'])} (from actual start)")
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
    elif "identities" in custom:
        if custom["enumerate_calls"]:
            mean = custom["enumerated"] / custom["enumerate_calls"]
            blocks.append(
                f"Enumerate: {custom['enumerated']} registrations returned"
                f" ({mean:.1f} per call, {custom['identities']} identities in"
                f" {custom['groups']} groups)"
            )
        if "delivery" in custom:
            blocks.append("\n".join(_delivery_lines(custom["delivery"])))
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

"""The soak's report: one JSON document, and the same facts as text."""

from __future__ import annotations

from typing import Any

from soak.procs import ProcSample

__all__ = ["resources", "text"]


def resources(start: dict[str, ProcSample], end: dict[str, ProcSample]) -> dict[str, Any]:
    """Per process name: RSS and fds at start and end (a restarted plugin has a new pid)."""
    out: dict[str, Any] = {}
    for name in sorted(set(start) | set(end)):
        a, b = start.get(name), end.get(name)
        out[name] = {
            "start": a.as_json() if a else None,
            "end": b.as_json() if b else None,
            "restarted": bool(a and b and a.pid != b.pid),
        }
    return out


def _mb(kb: int) -> str:
    return f"{kb / 1024:.1f}"


def _codes(codes: dict[str, int]) -> str:
    return ", ".join(f"{code} {n}" for code, n in codes.items()) or "-"


def text(report: dict[str, Any]) -> str:
    lines = []
    rates = ", ".join(f"{k} {v:g}/s" for k, v in report["rates"].items())
    state = "completed" if report["completed"] else "NOT COMPLETED"
    lines.append(f"Prism soak: {report['seconds']:.0f} s at {rates} through the gateway ({state})")
    lines.append(f"Acknowledged writes lost: {report['lost']}")
    for ns, kv in report["kv"].items():
        lines.append(
            f"  {ns} ({kv['backend']}): {kv['acked_sets']} acked Sets on {kv['keys']} keys, "
            f"{kv['lost']} lost, {kv['unreadable']} unreadable at the end, "
            f"{kv['stale_reads']} stale reads during the run"
        )
    pub = report["pubsub"]
    lines.append(
        f"  {pub['namespace']} ({pub['backend']}): {pub['acked']} acked publishes, "
        f"{pub['lost']} never consumed, {pub['duplicates']} duplicate deliveries, "
        f"{pub['failed']} failed publishes ({pub['failed_consumed']} consumed anyway), "
        f"{pub['subscription_breaks']} subscription breaks"
    )
    lines.append("Calls (stream: code count):")
    for stream, codes in report["calls"].items():
        skipped = report["skipped"].get(stream, 0)
        extra = f"; {skipped} not started (too many in flight)" if skipped else ""
        lines.append(f"  {stream:<10} {_codes(codes)}{extra}")
    lines.append("Kills (t since start; errors = failed calls until the next kill, by stream):")
    for ev in report["events"]:
        back = f"back +{ev['back_at'] - ev['at']:.1f}s" if ev["back_at"] is not None else "not back"
        recovered = ", ".join(
            f"{stream} {'not within the window' if t is None else f'{t:.2f}s'}"
            for stream, t in ev["recovered_after"].items()
        )
        recovered = f"succeeding again after: {recovered}" if recovered else "no failed calls"
        errors = "; ".join(f"{s}: {_codes(c)}" for s, c in ev["errors"].items()) or "none"
        note = f" ({ev['note']})" if ev["note"] else ""
        lines.append(
            f"  +{ev['at']:6.1f}s {ev['kind']} {ev['target']}: {back}{note}; "
            f"errors {errors}; {recovered}"
        )
    lines.append(f"Processes, start (t={report['resources_start_at']:.0f}s) -> end:")
    for name, r in report["resources"].items():
        a, b = r["start"], r["end"]
        if a is None or b is None:
            lines.append(f"  {name:<16} {'gone at the end' if b is None else 'not at the start'}")
            continue
        pid = f"pid {a['pid']}" + (f" -> {b['pid']} (restarted)" if r["restarted"] else "")
        lines.append(
            f"  {name:<16} RSS {_mb(a['rss_kb'])} -> {_mb(b['rss_kb'])} MB, "
            f"fds {a['fds']} -> {b['fds']}, {pid}"
        )
    return "\n".join(lines)

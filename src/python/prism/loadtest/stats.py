"""Latency histograms and outcome counts per operation type.

Why HdrHistogram: percentiles up to p99.9 over millions of samples need bounded memory and
constant-time recording, with a known relative error (3 significant digits here) across the
whole range from a microsecond (an in-process MemStore get) to a minute (a stalled backend).
Values are recorded in microseconds and clamped into that range, so nothing is ever dropped.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from hdrh.histogram import HdrHistogram

__all__ = ["PERCENTILES", "LatencyHistogram", "OpStats", "Recorder"]

LOWEST_US = 1
HIGHEST_US = 60_000_000
SIGNIFICANT_DIGITS = 3
PERCENTILES: tuple[tuple[str, float], ...] = (
    ("p50", 50.0),
    ("p95", 95.0),
    ("p99", 99.0),
    ("p999", 99.9),
)


class LatencyHistogram:
    """An HdrHistogram of durations given in seconds, summarised in milliseconds."""

    def __init__(self) -> None:
        self._h = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)

    def record(self, seconds: float) -> None:
        micros = int(seconds * 1_000_000)
        self._h.record_value(min(max(micros, LOWEST_US), HIGHEST_US))

    @property
    def count(self) -> int:
        return int(self._h.get_total_count())

    def encode(self) -> str:
        """HdrHistogram's compressed base64 form, to hand the histogram to another process."""
        return bytes(self._h.encode()).decode("ascii")

    def add_encoded(self, data: str) -> None:
        """Add the values of a histogram :meth:`encode` produced (in this or another process)."""
        self._h.add(HdrHistogram.decode(data.encode("ascii")))

    def percentile_ms(self, percentile: float) -> float:
        if self.count == 0:
            return 0.0
        return float(self._h.get_value_at_percentile(percentile)) / 1000.0

    def summary_ms(self) -> dict[str, float]:
        """p50/p95/p99/p999/max/mean in milliseconds (all 0 when empty)."""
        if self.count == 0:
            return {name: 0.0 for name, _ in PERCENTILES} | {"max": 0.0, "mean": 0.0}
        out = {name: round(self.percentile_ms(p), 3) for name, p in PERCENTILES}
        out["max"] = round(float(self._h.get_max_value()) / 1000.0, 3)
        out["mean"] = round(float(self._h.get_mean_value()) / 1000.0, 3)
        return out


@dataclass
class OpStats:
    """One operation type: latency from the intended start, service time, outcomes.

    ``latency`` (what a user waiting on the schedule sees) and ``service`` (from the actual
    start) are recorded for successful operations; failures are counted by error kind.
    """

    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    service: LatencyHistogram = field(default_factory=LatencyHistogram)
    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def count(self) -> int:
        return self.ok + sum(self.errors.values())

    def record(self, latency: float, service: float, error: str | None) -> None:
        if error is None:
            self.ok += 1
            self.latency.record(latency)
            self.service.record(service)
        else:
            self.errors[error] += 1


@dataclass
class Recorder:
    """Stats per operation name plus one ``total`` across all of them (for progress lines)."""

    ops: dict[str, OpStats] = field(default_factory=dict)
    total: OpStats = field(default_factory=OpStats)

    def record(self, op: str, latency: float, service: float, error: str | None) -> None:
        stats = self.ops.get(op)
        if stats is None:
            stats = self.ops[op] = OpStats()
        stats.record(latency, service, error)
        self.total.record(latency, service, error)

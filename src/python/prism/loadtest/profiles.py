"""Load profiles: the target rate over time, and the intended start time of every operation.

Why a schedule of start times (not "send, wait, send"): the load generator is open-loop. The
k-th operation is *due* at the moment the cumulative target count reaches k, whatever the
system under test did with the previous ones. A closed-loop generator waits for each answer,
so a slow backend silently lowers the offered rate and its stall never shows up in latency
("coordinated omission"). Here a stall delays nothing in the plan: later operations start late,
and their latency is measured from when they were due.

Every profile is a piecewise-linear rate: ``constant`` (one flat segment), ``ramp`` (one
segment from ``from_rate`` to ``rate``) and ``spike`` (flat, a higher flat step, flat again).
The k-th start time inverts the cumulative count in closed form within its segment, so the
schedule is exact (no drift from summing 1/rate steps) and rates of 0 are allowed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

__all__ = ["Profile", "Segment", "constant", "ramp", "spike"]


@dataclass(frozen=True)
class Segment:
    """From ``start`` for ``length`` seconds the rate goes linearly from ``rate0`` to ``rate1``."""

    start: float
    length: float
    rate0: float
    rate1: float

    def rate_at(self, offset: float) -> float:
        return self.rate0 + (self.rate1 - self.rate0) * offset / self.length

    def count_until(self, offset: float) -> float:
        """Operations due in the first ``offset`` seconds of this segment."""
        slope = (self.rate1 - self.rate0) / self.length
        return self.rate0 * offset + slope * offset * offset / 2.0

    def offset_of(self, count: float) -> float:
        """The offset at which ``count`` operations of this segment are due (inverse)."""
        if count <= 0:
            return 0.0
        slope = (self.rate1 - self.rate0) / self.length
        if abs(slope) < 1e-12:
            return count / self.rate0
        # slope/2 u^2 + rate0 u - count = 0; the numerically stable root for u >= 0.
        disc = max(self.rate0 * self.rate0 + 2.0 * slope * count, 0.0)
        return 2.0 * count / (self.rate0 + math.sqrt(disc))


@dataclass(frozen=True)
class Profile:
    """A named piecewise-linear rate over ``duration`` seconds, with its parameters for reports."""

    name: str
    segments: Sequence[Segment]
    params: dict[str, float]

    @property
    def duration(self) -> float:
        last = self.segments[-1]
        return last.start + last.length

    def rate_at(self, t: float) -> float:
        """Target operations per second at ``t`` seconds into the run (0 outside it)."""
        for seg in self.segments:
            if seg.start <= t < seg.start + seg.length:
                return seg.rate_at(t - seg.start)
        return 0.0

    def expected_ops(self, until: float | None = None) -> float:
        """Operations due in [0, until) (the whole run by default)."""
        end = self.duration if until is None else min(until, self.duration)
        total = 0.0
        for seg in self.segments:
            if end <= seg.start:
                break
            total += seg.count_until(min(end - seg.start, seg.length))
        return total

    def schedule(self) -> Iterator[float]:
        """Intended start offsets (seconds from the run start) of every operation, ascending.

        Operation k (0-based) is due when the cumulative count reaches k: the first one at 0.
        """
        k, done = 0, 0.0  # ``done``: operations due before the current segment
        for seg in self.segments:
            total = seg.count_until(seg.length)
            while k < done + total:
                yield seg.start + seg.offset_of(k - done)
                k += 1
            done += total


def _check(**values: float) -> None:
    for name, value in values.items():
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number >= 0, got {value}")


def constant(rate: float, duration: float) -> Profile:
    """``rate`` operations per second for ``duration`` seconds."""
    _check(rate=rate, duration=duration)
    if duration <= 0:
        raise ValueError("duration must be > 0")
    return Profile("constant", [Segment(0.0, duration, rate, rate)], {"rate": rate})


def ramp(from_rate: float, rate: float, duration: float) -> Profile:
    """A linear ramp from ``from_rate`` to ``rate`` over the whole ``duration``."""
    _check(from_rate=from_rate, rate=rate, duration=duration)
    if duration <= 0:
        raise ValueError("duration must be > 0")
    return Profile(
        "ramp", [Segment(0.0, duration, from_rate, rate)], {"from_rate": from_rate, "rate": rate}
    )


def spike(rate: float, spike_rate: float, at: float, length: float, duration: float) -> Profile:
    """``rate``, except ``spike_rate`` during [at, at + length) (clipped to the run)."""
    _check(rate=rate, spike_rate=spike_rate, at=at, length=length, duration=duration)
    if duration <= 0 or length <= 0:
        raise ValueError("duration and spike length must be > 0")
    if at >= duration:
        raise ValueError(f"the spike starts at {at}s, after the run ends ({duration}s)")
    end = min(at + length, duration)
    parts = [(0.0, at, rate), (at, end, spike_rate), (end, duration, rate)]
    segments = [Segment(s, e - s, r, r) for s, e, r in parts if e > s]
    params = {"rate": rate, "spike_rate": spike_rate, "spike_at": at, "spike_for": end - at}
    return Profile("spike", segments, params)

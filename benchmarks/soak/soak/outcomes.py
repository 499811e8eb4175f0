"""Every call's outcome on a timeline, so a kill's effect can be read off afterwards."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

__all__ = ["OK", "Outcomes", "Window"]

OK = "OK"


@dataclass(frozen=True)
class _Call:
    end: float  # seconds since the soak started
    stream: str  # "kv", "mem", "publish", "subscribe", "get"...
    code: str  # OK or a gRPC status code name


@dataclass(frozen=True)
class Window:
    """The calls that ended in [start, end): what one kill did."""

    errors: dict[str, dict[str, int]]  # stream -> code -> count
    # Failing stream -> seconds from start to its first success after its last failure;
    # None: it had not succeeded again by the end of the window.
    recovered_after: dict[str, float | None]


class Outcomes:
    def __init__(self) -> None:
        self._calls: list[_Call] = []
        self.skipped: Counter[str] = Counter()  # not started: too many calls in flight

    def record(self, now: float, stream: str, code: str) -> None:
        self._calls.append(_Call(now, stream, code))

    def totals(self) -> dict[str, dict[str, int]]:
        """stream -> code -> count, over the whole run."""
        out: dict[str, Counter[str]] = {}
        for call in self._calls:
            out.setdefault(call.stream, Counter())[call.code] += 1
        return {stream: dict(sorted(codes.items())) for stream, codes in sorted(out.items())}

    def window(self, start: float, end: float) -> Window:
        calls = [c for c in self._calls if start <= c.end < end]
        errors: dict[str, Counter[str]] = {}
        for call in calls:
            if call.code != OK:
                errors.setdefault(call.stream, Counter())[call.code] += 1
        recovered: dict[str, float | None] = {}
        for stream in sorted(errors):
            mine = [c for c in calls if c.stream == stream]
            last = max(c.end for c in mine if c.code != OK)
            after = [c.end for c in mine if c.code == OK and c.end > last]
            recovered[stream] = min(after) - start if after else None
        return Window(
            errors={s: dict(sorted(c.items())) for s, c in sorted(errors.items())},
            recovered_after=recovered,
        )

    def as_json(self) -> dict[str, Any]:
        return {"calls": self.totals(), "skipped": dict(self.skipped)}

"""Duration: a settings type that reads "250ms", "5s", "1m30s", "1h" or plain seconds."""

from __future__ import annotations

import math
import re
from typing import Annotated

from pydantic import BeforeValidator

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|s|m|h)")


def parse_duration(value: object) -> float:
    """Seconds as a float from a number or a Go-style duration string.

    Operators write "250ms" or "1m" in env vars and YAML; code wants float seconds. A bare number
    (or numeric string) is seconds. Negative, infinite and NaN values are rejected.
    """
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 5, 2.5, '250ms', '5s', '1m' or '1h'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = _parse_text(value.strip())
    else:
        raise ValueError("expected a duration such as 5, 2.5, '250ms', '5s', '1m' or '1h'")
    if math.isnan(seconds) or math.isinf(seconds) or seconds < 0:
        raise ValueError(f"duration must be a finite number of seconds >= 0, got {value!r}")
    return seconds


def _parse_text(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    pos, total = 0, 0.0
    while pos < len(text):
        match = _PART.match(text, pos)
        if match is None:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not text or pos != len(text):
        raise ValueError(
            f"invalid duration {text!r}: use a number of seconds or units ms, s, m, h "
            "(e.g. '250ms', '5s', '1m30s')"
        )
    return total


Duration = Annotated[float, BeforeValidator(parse_duration)]
"""Seconds (float); accepts 5, 2.5, "5s", "250ms", "1m", "1h", "1m30s"."""

"""Duration parsing."""

from __future__ import annotations

import pytest

from prism.sdk.config import parse_duration


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (5, 5.0),
        (2.5, 2.5),
        (0, 0.0),
        ("5", 5.0),
        ("2.5", 2.5),
        ("5s", 5.0),
        ("250ms", 0.25),
        ("1m", 60.0),
        ("1h", 3600.0),
        ("1m30s", 90.0),
        (" 1.5s ", 1.5),
        (".5s", 0.5),
    ],
)
def test_parse_duration(value: object, seconds: float) -> None:
    assert parse_duration(value) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["", "abc", "5x", "5 s", "s", "1m-3s", "-5s", True, None, [1]])
def test_invalid_duration(value: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)


@pytest.mark.parametrize("value", [-1, "-5", float("inf"), float("nan"), "nan"])
def test_negative_or_non_finite_duration(value: object) -> None:
    with pytest.raises(ValueError, match="finite"):
        parse_duration(value)

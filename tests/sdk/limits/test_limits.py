"""Limit validators: what passes, and messages naming field, size and limit."""

from __future__ import annotations

import math

import pytest

from prism.sdk.errors import InvalidArgumentError
from prism.sdk.limits import (
    MAX_KEY_BYTES,
    MAX_NAME_BYTES,
    MAX_QUOTED_CHARS,
    MAX_TTL_SECONDS,
    MAX_VALUE_BYTES,
    quoted,
    validate_key,
    validate_name,
    validate_ttl,
    validate_value,
)


def test_limit_values() -> None:
    assert MAX_KEY_BYTES == 1024
    assert MAX_VALUE_BYTES == 2 * 1024 * 1024
    assert MAX_NAME_BYTES == 255


def test_key_accepts_up_to_limit() -> None:
    validate_key("k")
    validate_key("x" * MAX_KEY_BYTES)
    validate_key("with spaces/and:colons\n")  # keys are opaque


def test_key_empty_is_invalid() -> None:
    with pytest.raises(InvalidArgumentError, match="key must not be empty"):
        validate_key("")


def test_key_size_counts_utf8_bytes() -> None:
    key = "é" * 513  # 1026 bytes, 513 characters
    with pytest.raises(InvalidArgumentError) as info:
        validate_key(key)
    assert info.value.message == "key is 1026 bytes; the limit is 1024 bytes"


def test_key_not_encodable_is_invalid() -> None:
    with pytest.raises(InvalidArgumentError, match="key is not valid UTF-8.*index 1"):
        validate_key("a\ud800")


def test_value_limits() -> None:
    validate_value(b"")
    validate_value(b"x" * MAX_VALUE_BYTES)
    with pytest.raises(InvalidArgumentError) as info:
        validate_value(b"x" * (MAX_VALUE_BYTES + 1))
    assert info.value.message == (
        f"value is {MAX_VALUE_BYTES + 1} bytes; the limit is {MAX_VALUE_BYTES} bytes"
    )


def test_name_accepts_up_to_limit() -> None:
    validate_name("namespace", "orders")
    validate_name("topic", "t" * MAX_NAME_BYTES)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("namespace", "", "namespace must not be empty"),
        ("topic", "t" * 256, "topic is 256 bytes; the limit is 255 bytes"),
        ("subscriber_id", "ü" * 128, "subscriber_id is 256 bytes; the limit is 255 bytes"),
        ("namespace", "a\nb", "namespace contains control character '\\n' at index 1"),
        ("topic", "x\x7f", "topic contains control character '\\x7f' at index 1"),
        ("topic", "\x00", "topic contains control character '\\x00' at index 0"),
    ],
)
def test_name_rejections_name_the_field(field: str, value: str, message: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        validate_name(field, value)
    assert info.value.message == message


def test_name_not_encodable() -> None:
    with pytest.raises(InvalidArgumentError, match="topic is not valid UTF-8"):
        validate_name("topic", "\udfff")


def test_ttl_accepts_positive_fractions() -> None:
    validate_ttl(0.001)
    validate_ttl(5)
    validate_ttl(MAX_TTL_SECONDS)


@pytest.mark.parametrize(
    ("seconds", "message"),
    [
        (0.0, "ttl_seconds must be > 0, got 0.0"),
        (-1.5, "ttl_seconds must be > 0, got -1.5"),
        (math.nan, "ttl_seconds must be a finite number, got nan"),
        (math.inf, "ttl_seconds must be a finite number, got inf"),
        (MAX_TTL_SECONDS * 2, "ttl_seconds is 630720000.0; the limit is 315360000 seconds"),
    ],
)
def test_ttl_rejections(seconds: float, message: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        validate_ttl(seconds)
    assert info.value.message == message


def test_quoted_keeps_short_values_and_cuts_long_ones() -> None:
    assert quoted("ns") == "'ns'"
    assert quoted(b"\xff") == "b'\\xff'"
    assert quoted("k" * MAX_QUOTED_CHARS) == repr("k" * MAX_QUOTED_CHARS)
    assert quoted("é" * 100) == f"{'é' * MAX_QUOTED_CHARS!r}... (200 bytes)"
    assert quoted(b"v" * 1000, limit=3) == "b'vvv'... (1000 bytes)"

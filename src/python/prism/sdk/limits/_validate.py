"""Limit constants and the validators that enforce them."""

from __future__ import annotations

import math
from collections.abc import Mapping

from prism.sdk.errors import InvalidArgumentError

MAX_KEY_BYTES = 1024
MAX_VALUE_BYTES = 2 * 1024 * 1024
MAX_NAME_BYTES = 255  # namespace, topic, subscriber id
MAX_TAGS = 64  # tags on one entry
MAX_TAGS_BYTES = 16 * 1024  # all tag names and values of one entry together
MAX_TTL_SECONDS = 10 * 365 * 24 * 3600.0  # ten years: beyond that it is a bug, not a TTL


def _utf8_size(field: str, value: str) -> int:
    try:
        return len(value.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise InvalidArgumentError(
            f"{field} is not valid UTF-8 (invalid character at index {exc.start})"
        ) from None


def validate_key(key: str) -> None:
    """Reject an empty key or one longer than MAX_KEY_BYTES UTF-8 bytes."""
    if not key:
        raise InvalidArgumentError("key must not be empty")
    size = _utf8_size("key", key)
    if size > MAX_KEY_BYTES:
        raise InvalidArgumentError(f"key is {size} bytes; the limit is {MAX_KEY_BYTES} bytes")


def validate_value(value: bytes) -> None:
    """Reject a value longer than MAX_VALUE_BYTES (an empty value is allowed)."""
    size = len(value)
    if size > MAX_VALUE_BYTES:
        raise InvalidArgumentError(f"value is {size} bytes; the limit is {MAX_VALUE_BYTES} bytes")


def validate_tags(tags: Mapping[str, str]) -> None:
    """Reject more than MAX_TAGS tags, or names and values over MAX_TAGS_BYTES together."""
    if len(tags) > MAX_TAGS:
        raise InvalidArgumentError(f"tags has {len(tags)} entries; the limit is {MAX_TAGS} tags")
    size = sum(_utf8_size("tags", k) + _utf8_size("tags", v) for k, v in tags.items())
    if size > MAX_TAGS_BYTES:
        raise InvalidArgumentError(
            f"tags are {size} bytes (names and values); the limit is {MAX_TAGS_BYTES} bytes"
        )


def validate_name(field: str, value: str) -> None:
    """Reject an empty name, one over MAX_NAME_BYTES, or one containing control characters.

    ``field`` is the request field being checked ("namespace", "topic", ...) and is named in
    the error message.
    """
    if not value:
        raise InvalidArgumentError(f"{field} must not be empty")
    size = _utf8_size(field, value)
    if size > MAX_NAME_BYTES:
        raise InvalidArgumentError(f"{field} is {size} bytes; the limit is {MAX_NAME_BYTES} bytes")
    for index, char in enumerate(value):
        if ord(char) < 0x20 or ord(char) == 0x7F:
            raise InvalidArgumentError(
                f"{field} contains control character {char!r} at index {index}"
            )


def validate_ttl(seconds: float) -> None:
    """Reject a TTL that is not a finite number of seconds in (0, MAX_TTL_SECONDS]."""
    if not math.isfinite(seconds):
        raise InvalidArgumentError(f"ttl_seconds must be a finite number, got {seconds}")
    if seconds <= 0:
        raise InvalidArgumentError(f"ttl_seconds must be > 0, got {seconds}")
    if seconds > MAX_TTL_SECONDS:
        raise InvalidArgumentError(
            f"ttl_seconds is {seconds}; the limit is {MAX_TTL_SECONDS:.0f} seconds"
        )

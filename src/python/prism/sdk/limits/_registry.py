"""Limits of the multicast registry (identities, metadata, filters, payloads) and validators."""

from __future__ import annotations

from collections.abc import Mapping

from prism.sdk.errors import InvalidArgumentError
from prism.sdk.limits._validate import _utf8_size, validate_name, validate_ttl

MAX_IDENTITY_BYTES = 255
MAX_METADATA_ENTRIES = 64
MAX_METADATA_KEY_BYTES = 128
MAX_METADATA_BYTES = 16 * 1024  # keys + values of one registration (or one message's headers)
MAX_MULTICAST_PAYLOAD_BYTES = 256 * 1024
MAX_FILTER_CONDITIONS = 32
MAX_FILTER_VALUES = 256  # values of one condition (FILTER_OP_IN)
MAX_FILTER_VALUE_BYTES = 1024
MAX_ENUMERATE_PAGE_SIZE = 1000
DEFAULT_ENUMERATE_PAGE_SIZE = 100


def validate_identity(identity: str) -> None:
    """Same rules as a name (non-empty, no control characters), MAX_IDENTITY_BYTES."""
    validate_name("identity", identity)


def validate_metadata(field: str, metadata: Mapping[str, str]) -> None:
    """Entry count, non-empty keys of at most MAX_METADATA_KEY_BYTES, MAX_METADATA_BYTES total."""
    if len(metadata) > MAX_METADATA_ENTRIES:
        raise InvalidArgumentError(
            f"{field} has {len(metadata)} entries; the limit is {MAX_METADATA_ENTRIES}"
        )
    total = 0
    for key, value in metadata.items():
        if not key:
            raise InvalidArgumentError(f"{field} has an empty key")
        key_size = _utf8_size(f"{field} key", key)
        if key_size > MAX_METADATA_KEY_BYTES:
            raise InvalidArgumentError(
                f"{field} key {key[:40]!r} is {key_size} bytes; "
                f"the limit is {MAX_METADATA_KEY_BYTES} bytes"
            )
        total += key_size + _utf8_size(f"{field}[{key[:40]!r}]", value)
    if total > MAX_METADATA_BYTES:
        raise InvalidArgumentError(
            f"{field} is {total} bytes; the limit is {MAX_METADATA_BYTES} bytes"
        )


def validate_registration_ttl(seconds: float) -> None:
    """0 means "never expires"; otherwise a TTL in (0, MAX_TTL_SECONDS]."""
    if seconds != 0:
        validate_ttl(seconds)


def validate_payload(payload: bytes) -> None:
    if len(payload) > MAX_MULTICAST_PAYLOAD_BYTES:
        raise InvalidArgumentError(
            f"payload is {len(payload)} bytes; the limit is {MAX_MULTICAST_PAYLOAD_BYTES} bytes"
        )


def validate_page_size(page_size: int) -> int:
    """The page size to use: 0 means DEFAULT_ENUMERATE_PAGE_SIZE."""
    if page_size > MAX_ENUMERATE_PAGE_SIZE:
        raise InvalidArgumentError(
            f"page_size is {page_size}; the limit is {MAX_ENUMERATE_PAGE_SIZE}"
        )
    return page_size or DEFAULT_ENUMERATE_PAGE_SIZE


__all__ = [
    "DEFAULT_ENUMERATE_PAGE_SIZE",
    "MAX_ENUMERATE_PAGE_SIZE",
    "MAX_FILTER_CONDITIONS",
    "MAX_FILTER_VALUES",
    "MAX_FILTER_VALUE_BYTES",
    "MAX_IDENTITY_BYTES",
    "MAX_METADATA_BYTES",
    "MAX_METADATA_ENTRIES",
    "MAX_METADATA_KEY_BYTES",
    "MAX_MULTICAST_PAYLOAD_BYTES",
    "validate_identity",
    "validate_metadata",
    "validate_page_size",
    "validate_payload",
    "validate_registration_ttl",
]

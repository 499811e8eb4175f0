"""Pub/sub acknowledgement limits (ack deadline, flow control, Ack batch size) and validators."""

from __future__ import annotations

from collections.abc import Sequence

from prism.sdk.errors import InvalidArgumentError
from prism.sdk.limits._validate import MAX_NAME_BYTES, _utf8_size

DEFAULT_ACK_DEADLINE_SECONDS = 30.0
MIN_ACK_DEADLINE_SECONDS = 1.0
MAX_ACK_DEADLINE_SECONDS = 600.0
DEFAULT_MAX_OUTSTANDING = 1000
MAX_MAX_OUTSTANDING = 10_000
MAX_ACK_IDS = 1000  # ack ids in one Ack request


def ack_deadline_seconds(ack_deadline_ms: int) -> float:
    """The ack deadline a SubscribeRequest asks for (0 = the default), in seconds."""
    if ack_deadline_ms == 0:
        return DEFAULT_ACK_DEADLINE_SECONDS
    seconds = ack_deadline_ms / 1000
    if not MIN_ACK_DEADLINE_SECONDS <= seconds <= MAX_ACK_DEADLINE_SECONDS:
        raise InvalidArgumentError(
            f"ack_deadline_ms is {ack_deadline_ms}; it must be 0 (default) or between"
            f" {MIN_ACK_DEADLINE_SECONDS * 1000:.0f} and {MAX_ACK_DEADLINE_SECONDS * 1000:.0f}"
        )
    return seconds


def max_outstanding(requested: int) -> int:
    """The flow-control window a SubscribeRequest asks for (0 = the default)."""
    if requested == 0:
        return DEFAULT_MAX_OUTSTANDING
    if requested > MAX_MAX_OUTSTANDING:
        raise InvalidArgumentError(
            f"max_outstanding is {requested}; the limit is {MAX_MAX_OUTSTANDING}"
        )
    return requested


def validate_ack_ids(ack_ids: Sequence[str]) -> None:
    """Reject more than MAX_ACK_IDS ids, or an empty or oversized one."""
    if len(ack_ids) > MAX_ACK_IDS:
        raise InvalidArgumentError(
            f"ack_ids has {len(ack_ids)} ids; the limit is {MAX_ACK_IDS} per request"
        )
    for index, ack_id in enumerate(ack_ids):
        if not ack_id:
            raise InvalidArgumentError(f"ack_ids[{index}] must not be empty")
        size = _utf8_size(f"ack_ids[{index}]", ack_id)
        if size > MAX_NAME_BYTES:
            raise InvalidArgumentError(
                f"ack_ids[{index}] is {size} bytes; the limit is {MAX_NAME_BYTES} bytes"
            )

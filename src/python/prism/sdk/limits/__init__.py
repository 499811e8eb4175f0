"""Size and shape limits for keys, values, names and TTLs, with validators.

Why: every plugin must reject the same oversized or malformed input with the same
INVALID_ARGUMENT status, before it reaches a backend (where it would fail later, slower, and
with a backend-specific message). The validators raise
:class:`~prism.sdk.errors.InvalidArgumentError` with a message naming the field, the actual
size and the limit, so a client can fix its request without reading server logs; a value
echoed back goes through :func:`quoted`, which cuts long ones short.
Sizes are measured in UTF-8 bytes, because that is what backends store and limit.
"""

from prism.sdk.limits._ack import (
    DEFAULT_ACK_DEADLINE_SECONDS,
    DEFAULT_MAX_OUTSTANDING,
    MAX_ACK_DEADLINE_SECONDS,
    MAX_ACK_IDS,
    MAX_MAX_OUTSTANDING,
    MIN_ACK_DEADLINE_SECONDS,
    ack_deadline_seconds,
    max_outstanding,
    validate_ack_ids,
)
from prism.sdk.limits._quote import MAX_QUOTED_CHARS, quoted
from prism.sdk.limits._registry import (
    DEFAULT_ENUMERATE_PAGE_SIZE,
    MAX_ENUMERATE_PAGE_SIZE,
    MAX_FILTER_CONDITIONS,
    MAX_FILTER_VALUE_BYTES,
    MAX_FILTER_VALUES,
    MAX_IDENTITY_BYTES,
    MAX_METADATA_BYTES,
    MAX_METADATA_ENTRIES,
    MAX_METADATA_KEY_BYTES,
    MAX_MULTICAST_PAYLOAD_BYTES,
    validate_identity,
    validate_metadata,
    validate_page_size,
    validate_payload,
    validate_registration_ttl,
)
from prism.sdk.limits._validate import (
    MAX_KEY_BYTES,
    MAX_NAME_BYTES,
    MAX_TAGS,
    MAX_TAGS_BYTES,
    MAX_TTL_SECONDS,
    MAX_VALUE_BYTES,
    validate_key,
    validate_name,
    validate_tags,
    validate_ttl,
    validate_value,
)

__all__ = [
    "DEFAULT_ACK_DEADLINE_SECONDS",
    "DEFAULT_ENUMERATE_PAGE_SIZE",
    "DEFAULT_MAX_OUTSTANDING",
    "MAX_ACK_DEADLINE_SECONDS",
    "MAX_ACK_IDS",
    "MAX_ENUMERATE_PAGE_SIZE",
    "MAX_FILTER_CONDITIONS",
    "MAX_FILTER_VALUES",
    "MAX_FILTER_VALUE_BYTES",
    "MAX_IDENTITY_BYTES",
    "MAX_KEY_BYTES",
    "MAX_MAX_OUTSTANDING",
    "MAX_METADATA_BYTES",
    "MAX_METADATA_ENTRIES",
    "MAX_METADATA_KEY_BYTES",
    "MAX_MULTICAST_PAYLOAD_BYTES",
    "MAX_NAME_BYTES",
    "MAX_QUOTED_CHARS",
    "MAX_TAGS",
    "MAX_TAGS_BYTES",
    "MAX_TTL_SECONDS",
    "MAX_VALUE_BYTES",
    "MIN_ACK_DEADLINE_SECONDS",
    "ack_deadline_seconds",
    "max_outstanding",
    "quoted",
    "validate_ack_ids",
    "validate_identity",
    "validate_key",
    "validate_metadata",
    "validate_name",
    "validate_page_size",
    "validate_payload",
    "validate_registration_ttl",
    "validate_tags",
    "validate_ttl",
    "validate_value",
]

"""Size and shape limits for keys, values, names and TTLs, with validators.

Why: every plugin must reject the same oversized or malformed input with the same
INVALID_ARGUMENT status, before it reaches a backend (where it would fail later, slower, and
with a backend-specific message). The validators raise
:class:`~prism.sdk.errors.InvalidArgumentError` with a message naming the field, the actual
size and the limit, so a client can fix its request without reading server logs; a value
echoed back goes through :func:`quoted`, which cuts long ones short.
Sizes are measured in UTF-8 bytes, because that is what backends store and limit.
"""

from prism.sdk.limits._quote import MAX_QUOTED_CHARS, quoted
from prism.sdk.limits._validate import (
    MAX_KEY_BYTES,
    MAX_NAME_BYTES,
    MAX_TTL_SECONDS,
    MAX_VALUE_BYTES,
    validate_key,
    validate_name,
    validate_ttl,
    validate_value,
)

__all__ = [
    "MAX_KEY_BYTES",
    "MAX_NAME_BYTES",
    "MAX_QUOTED_CHARS",
    "MAX_TTL_SECONDS",
    "MAX_VALUE_BYTES",
    "quoted",
    "validate_key",
    "validate_name",
    "validate_ttl",
    "validate_value",
]

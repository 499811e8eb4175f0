"""quoted(): echo a client-supplied value in an error message without echoing all of it."""

from __future__ import annotations

MAX_QUOTED_CHARS = 64  # enough to recognise a value; a 2 MiB key is not repeated back


def quoted(value: str | bytes, limit: int = MAX_QUOTED_CHARS) -> str:
    """``repr`` of ``value``, cut to ``limit`` characters plus its full size when longer.

    Error messages name the offending input so a client can find it, but a 300-byte namespace
    or a 1 KiB key echoed whole makes logs and status details unreadable.
    """
    if len(value) <= limit:
        return repr(value)
    size = len(value.encode("utf-8")) if isinstance(value, str) else len(value)
    return f"{value[:limit]!r}... ({size} bytes)"

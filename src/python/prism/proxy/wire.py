"""Read a request's ``namespace`` (field 1) straight from its wire bytes, as protobuf would.

The proxy forwards requests as raw bytes, so the only thing it needs from a request is its
namespace. Every contract request declares ``string namespace = 1``. The plugin parses the
same bytes with protobuf, so the proxy must read exactly what protobuf reads, or a request
could be routed by one namespace and served under another: the *last* field 1 wins, a field 1
with another wire type is an unknown field (skipped), every field-1 value must be UTF-8, and
bytes protobuf rejects as malformed (truncation, field number 0, a stray or unmatched
end-group, wire types 6 and 7, an 11-byte varint) raise :class:`WireError`. Every field is
walked (skipping values costs nothing), so a message is never half-read. Bytes protobuf
rejects for reasons this walk does not check (a bad string in another field, a malformed
nested message) are routed and then answered INVALID_ARGUMENT by the plugin's SDK.
"""

from __future__ import annotations

_MAX_GROUP_DEPTH = 100  # protobuf's default recursion limit


class WireError(ValueError):
    """The request bytes are not a well-formed protobuf message."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(data):
            raise WireError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise WireError("varint too long")


def read_namespace(data: bytes) -> str:
    """The value of string field 1 in ``data`` ("" when absent; the last occurrence wins)."""
    found, _ = _fields(data, 0, 0, 0)
    return found


def _fields(data: bytes, pos: int, group: int, depth: int) -> tuple[str, int]:
    """Walk fields from ``pos`` to the end (``group == 0``) or to group ``group``'s end tag.

    Returns the last top-level field-1 string seen and the position after the walk.
    """
    found = ""
    size = len(data)
    while pos < size:
        tag = data[pos]  # one-byte varints inline: the common case, and this runs per call
        if tag < 0x80:
            pos += 1
        else:
            tag, pos = _varint(data, pos)
        field, wire_type = tag >> 3, tag & 7
        if field == 0 or tag > 0xFFFFFFFF:
            raise WireError(f"invalid field number in tag {tag}")
        if wire_type == 2:
            if pos < size and data[pos] < 0x80:
                length = data[pos]
                pos += 1
            else:
                length, pos = _varint(data, pos)
            end = pos + length
            if end > size:
                raise WireError("truncated field")
            if field == 1 and group == 0:
                try:
                    found = data[pos:end].decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise WireError("namespace is not valid UTF-8") from exc
            pos = end
        elif wire_type == 0:
            _, pos = _varint(data, pos)
        elif wire_type == 1:
            pos += 8
        elif wire_type == 5:
            pos += 4
        elif wire_type == 3:
            if depth >= _MAX_GROUP_DEPTH:
                raise WireError("groups nested too deeply")
            _, pos = _fields(data, pos, field, depth + 1)
        elif wire_type == 4:
            if field != group:
                raise WireError(f"unexpected end of group {field}")
            return found, pos
        else:
            raise WireError(f"invalid wire type {wire_type}")
        if pos > size:
            raise WireError("truncated field")
    if group:
        raise WireError(f"group {group} is not closed")
    return found, pos

"""Read a request's ``namespace`` (field 1) straight from its wire bytes.

The proxy forwards requests as raw bytes, so the only thing it needs from a request is its
namespace. Every contract request declares ``string namespace = 1``. Parsing the protobuf wire
format for that one field costs a few hundred nanoseconds and never allocates the message;
the fast path covers what every protobuf serializer emits (field 1 first), and the slow path
skips other fields in case a client wrote them in another order.
"""

from __future__ import annotations


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
    # Fast path: field 1, wire type 2 (tag byte 0x0A) first, length < 128.
    if len(data) >= 2 and data[0] == 0x0A and data[1] < 0x80:
        end = 2 + data[1]
        if end <= len(data) and (end == len(data) or data[end] != 0x0A):
            try:
                return data[2:end].decode("utf-8")
            except UnicodeDecodeError:
                pass
    return _scan(data)


def _scan(data: bytes) -> str:
    found = b""
    pos = 0
    size = len(data)
    while pos < size:
        tag, pos = _varint(data, pos)
        field, wire_type = tag >> 3, tag & 7
        if wire_type == 0:
            _, pos = _varint(data, pos)
        elif wire_type == 1:
            pos += 8
        elif wire_type == 2:
            length, pos = _varint(data, pos)
            if field == 1:
                found = data[pos : pos + length]
            pos += length
        elif wire_type == 5:
            pos += 4
        else:
            raise WireError(f"unsupported wire type {wire_type}")
        if pos > size:
            raise WireError("truncated field")
    try:
        return found.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WireError("namespace is not valid UTF-8") from exc

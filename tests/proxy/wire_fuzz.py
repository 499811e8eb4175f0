"""Seeded random request bytes for the wire tests: valid messages, reordered and repeated
fields, mutations that target field 1, and plain noise."""

from __future__ import annotations

import random
from collections.abc import Iterator

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message
from google.protobuf.message_factory import GetMessageClass

_INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
NAMESPACES = ("default", "shared", "small", "", "nowhere", "é" * 3, "n" * 300)


def _text(rng: random.Random) -> str:
    pool = "abcxyz/-_.é漢\U0001f600\x00\n"
    return "".join(rng.choice(pool) for _ in range(rng.choice((0, 1, 3, 20, 200))))


def _scalar(field: FieldDescriptor, rng: random.Random) -> object:
    t = field.type
    if field.number == 1 and t == FieldDescriptor.TYPE_STRING:
        return rng.choice(NAMESPACES)
    if t == FieldDescriptor.TYPE_STRING:
        return _text(rng)
    if t == FieldDescriptor.TYPE_BYTES:
        return rng.randbytes(rng.choice((0, 1, 5, 300)))
    if t == FieldDescriptor.TYPE_BOOL:
        return rng.random() < 0.5
    if t in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return rng.choice((0.0, 1.5, -3.0, 1e30, float("inf")))
    if t == FieldDescriptor.TYPE_ENUM:
        assert field.enum_type is not None
        return rng.choice(field.enum_type.values).number
    lo, hi = _INT_RANGES[t]
    return rng.choice((0, 1, lo, hi, rng.randint(lo, hi)))


def random_message(descriptor: Descriptor, rng: random.Random) -> Message:
    """A message of ``descriptor``'s type with random values in a random subset of fields."""
    message = GetMessageClass(descriptor)()
    for field in descriptor.fields:
        if rng.random() < 0.3:
            continue
        target = getattr(message, field.name)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key_f, value_f = (
                field.message_type.fields_by_name["key"],
                field.message_type.fields_by_name["value"],
            )
            for _ in range(rng.randint(0, 3)):
                key = _scalar(key_f, rng)
                if value_f.message_type is not None:
                    target[key].CopyFrom(random_message(value_f.message_type, rng))
                else:
                    target[key] = _scalar(value_f, rng)
        elif field.message_type is not None:
            items = [random_message(field.message_type, rng) for _ in range(rng.randint(1, 2))]
            if field.is_repeated:
                target.extend(items)
            else:
                target.CopyFrom(items[0])
        elif field.is_repeated:
            target.extend(_scalar(field, rng) for _ in range(rng.randint(0, 3)))
        else:
            setattr(message, field.name, _scalar(field, rng))
    return message


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field1_segment(rng: random.Random) -> bytes:
    """Something about field 1 that a shortcut could get wrong."""
    choice = rng.randrange(7)
    if choice == 0:  # another namespace
        raw = rng.choice(NAMESPACES).encode()
        return b"\x0a" + _varint(len(raw)) + raw
    if choice == 1:  # not UTF-8
        return b"\x0a\x02\xff\xfe"
    if choice == 2:  # field 1 as a varint: an unknown field to protobuf
        return b"\x08" + _varint(rng.randrange(2**40))
    if choice == 3:  # field 1 as fixed32 / fixed64
        return rng.choice((b"\x0d" + rng.randbytes(4), b"\x09" + rng.randbytes(8)))
    if choice == 4:  # a group that contains a field 1 of its own
        return b"\x1b\x0a\x03abc\x1c"
    if choice == 5:  # a stray end-group / unmatched group
        return rng.choice((b"\x0c", b"\x0b", b"\x13\x0a\x01x"))
    return b"\x00" if rng.random() < 0.5 else b"\x0a" + _varint(2**31) + b"x"  # field 0 / huge


def _mutate(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(5)
        pos = rng.randint(0, len(buf))
        if op == 0 and buf:
            buf[min(pos, len(buf) - 1)] = rng.randrange(256)
        elif op == 1:
            buf[pos:pos] = _field1_segment(rng)
        elif op == 2:
            del buf[pos:]
        elif op == 3:
            del buf[pos : pos + rng.randint(1, 4)]
        else:
            buf[pos:pos] = rng.randbytes(rng.randint(1, 4))
    return bytes(buf)


def _reordered(message: Message, rng: random.Random) -> bytes:
    """The message's fields serialized one by one, in a random order, some twice."""
    parts = []
    for field, value in message.ListFields():
        single = type(message)()
        if field.is_repeated and field.message_type is None:
            getattr(single, field.name).extend(value)
        elif field.is_repeated:
            getattr(single, field.name).MergeFrom(value)
        elif field.message_type is not None:
            getattr(single, field.name).CopyFrom(value)
        else:
            setattr(single, field.name, value)
        parts.append(single.SerializeToString())
    rng.shuffle(parts)
    if parts and rng.random() < 0.5:
        parts.insert(rng.randint(0, len(parts)), rng.choice(parts))
    return b"".join(parts)


def request_bytes(descriptor: Descriptor, rng: random.Random) -> Iterator[bytes]:
    """A few candidate request bodies for ``descriptor``: valid ones first, then broken ones."""
    message = random_message(descriptor, rng)
    valid = message.SerializeToString()
    yield valid
    yield _reordered(message, rng)
    yield valid + random_message(descriptor, rng).SerializeToString()  # merge: last field 1 wins
    yield _mutate(valid, rng)
    yield _mutate(_reordered(message, rng), rng)
    yield rng.randbytes(rng.randint(0, 24))


def protobuf_namespace(descriptor: Descriptor, data: bytes) -> str | None:
    """The namespace protobuf parses from ``data`` (None when it rejects the bytes)."""
    message = GetMessageClass(descriptor)()
    try:
        message.ParseFromString(data)
    except DecodeError:
        return None
    namespace: str = message.namespace  # type: ignore[attr-defined]
    return namespace

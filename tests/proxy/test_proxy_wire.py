from __future__ import annotations

import random

import pytest

from prism.interfaces import keyvalue_basic_pb2 as kv
from prism.interfaces import keyvalue_scan_pb2 as scan
from prism.proxy.contract import CONTRACT_SERVICES
from prism.proxy.wire import WireError, read_namespace
from proxy.wire_fuzz import protobuf_namespace, request_bytes


@pytest.mark.parametrize(
    "message",
    [
        kv.SetRequest(namespace="ns", key="k", value=b"v" * 1000, ttl_seconds=1.5, tags={"a": "b"}),
        kv.GetRequest(namespace="é" * 100, key="k"),  # 200 bytes: a 2-byte length varint
        scan.ScanRequest(namespace="n", limit=5, keys_only=True),
        kv.GetRequest(key="only-key"),
    ],
)
def test_reads_namespace_of_real_messages(message: object) -> None:
    assert read_namespace(message.SerializeToString()) == message.namespace  # type: ignore[attr-defined]


def test_reads_namespace_written_after_other_fields() -> None:
    tail_first = (
        kv.GetRequest(key="k").SerializeToString()
        + kv.GetRequest(namespace="late").SerializeToString()
    )
    assert read_namespace(tail_first) == "late"
    # Fixed-width and varint fields are skipped too.
    other = scan.ScanRequest(limit=300, keys_only=True).SerializeToString()
    assert read_namespace(other + scan.ScanRequest(namespace="x").SerializeToString()) == "x"
    fixed64 = kv.SetRequest(ttl_seconds=2.0).SerializeToString()
    assert read_namespace(fixed64 + b"\x0a\x01z") == "z"


def test_repeated_field_one_last_wins() -> None:
    assert read_namespace(b"\x0a\x01a\x0a\x01b") == "b"


@pytest.mark.parametrize(
    "raw", [b"\x0a\x05ab", b"\x0a", b"\x10\xff", b"\x0b", b"\x0a\x02\xff\xfe", b"\x11\x00"]
)
def test_malformed_bytes_raise_wire_error(raw: bytes) -> None:
    with pytest.raises(WireError):
        read_namespace(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # Field 1 again after another field: the old fast path only looked at the next byte.
        (b"\x0a\x01a\x12\x01k\x0a\x01b", "b"),
        # Field 1 with the wrong wire type is an unknown field to protobuf: skipped.
        (b"\x0a\x01a\x08\x05", "a"),
        (b"\x0d\x00\x00\x00\x00", ""),
        # A field 1 inside an (unknown) group is not the namespace.
        (b"\x0a\x01a\x1b\x0a\x01b\x1c", "a"),
    ],
)
def test_reads_what_protobuf_reads(raw: bytes, expected: str) -> None:
    assert protobuf_namespace(kv.GetRequest.DESCRIPTOR, raw) == expected
    assert read_namespace(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        b"\x0a\x01a\x12\x01k\x0a\x02\xff\xfe",  # a later field 1 that is not UTF-8
        b"\x0a\x01a\x12\xff",  # the rest is truncated
        b"\x0a\x01a\x00",  # field number 0
        b"\x0a\x01a\x0c",  # end-group without a group
        b"\x0a\x01a\x1b\x0a\x01b",  # group never closed
    ],
)
def test_rejects_what_protobuf_rejects(raw: bytes) -> None:
    assert protobuf_namespace(kv.GetRequest.DESCRIPTOR, raw) is None
    with pytest.raises(WireError):
        read_namespace(raw)


def test_agrees_with_protobuf_on_random_requests() -> None:
    """Where protobuf parses, the proxy reads the same namespace; where the proxy rejects,
    protobuf rejects too. (Bytes only protobuf rejects, e.g. a bad string in another field,
    are routed and then refused by the plugin.)"""
    rng = random.Random(20261201)
    checked = parsed = 0
    for _ in range(300):
        for service in CONTRACT_SERVICES:
            for method in service.methods:
                for raw in request_bytes(method.input_type, rng):
                    expected = protobuf_namespace(method.input_type, raw)
                    try:
                        got: str | None = read_namespace(raw)
                    except WireError:
                        got = None
                    checked += 1
                    if expected is not None:
                        parsed += 1
                        assert got == expected, (method.full_name, raw)
                    if got is None:
                        assert expected is None, (method.full_name, raw)
    assert parsed > checked // 3  # the generator does produce valid requests

from __future__ import annotations

import pytest

from prism.interfaces import keyvalue_basic_pb2 as kv
from prism.interfaces import keyvalue_scan_pb2 as scan
from prism.proxy.wire import WireError, read_namespace


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

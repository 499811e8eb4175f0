"""Benchmark: what reading the namespace off the wire costs the proxy, per request.

``prism.proxy.wire.read_namespace`` walks every field of a request (it must, to read what
protobuf reads: the last field 1 wins). The baseline, in the same run, is protobuf's own
``ParseFromString`` of the same bytes into the real request type: the parse the plugin does
anyway, and what the proxy would pay if it decoded requests. Printed: nanoseconds per call
(best of ``--repeat`` runs of ``--number`` calls) and the walk/parse ratio.
Run: ``./pants run benchmarks/proxy/bench_wire.py``.
"""

from __future__ import annotations

import argparse
import timeit
from collections.abc import Sequence

from google.protobuf.message import Message

from prism.interfaces import keyvalue_basic_pb2 as kv
from prism.proxy.wire import read_namespace


def _cases() -> list[tuple[str, Message, int]]:
    tags = {"owner": "bench", "kind": "x"}
    return [
        ("Get", kv.GetRequest(namespace="default", key="user:42"), 1),
        ("Set 1 KiB + ttl + 2 tags", kv.SetRequest(
            namespace="default", key="user:42", value=b"v" * 1024, ttl_seconds=30, tags=tags
        ), 1),
        ("Set 2 MiB", kv.SetRequest(namespace="default", key="k", value=b"v" * (2 << 20)), 50),
    ]


def _best(fn: object, number: int, repeat: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number  # type: ignore[arg-type]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--number", type=int, default=20_000, help="calls per timing run")
    parser.add_argument("--repeat", type=int, default=5, help="timing runs; the best is kept")
    args = parser.parse_args(argv)
    print(f"{'request':<26}{'walk ns':>10}{'parse ns':>10}{'walk/parse':>12}")
    for name, message, divisor in _cases():
        data = message.SerializeToString()
        cls = type(message)
        assert read_namespace(data) == cls.FromString(data).namespace  # type: ignore[attr-defined]
        number = max(1, args.number // divisor)
        walk = _best(lambda: read_namespace(data), number, args.repeat)  # noqa: B023
        parse = _best(lambda: cls.FromString(data), number, args.repeat)  # noqa: B023
        print(f"{name:<26}{walk * 1e9:>10.0f}{parse * 1e9:>10.0f}{walk / parse:>12.3g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

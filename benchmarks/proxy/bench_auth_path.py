"""Benchmark: the Python part of a secured call, per call, in-process.

The auth wrapper (cached token, grant check, namespace read) around a no-op behaviour, with a
fake context, timed as CPU (``time.process_time``, so other processes on a shared machine do
not count) and compared in the same run with:

* the bare behaviour (the floor);
* the grant check alone, indexed (``Authorizer.check``) vs a scan over every grant (the rule
  the index must match, as it was implemented before the index), at 1 and ``--grants`` grants.

TLS is grpc core's (C) and is not in here: ``bench_security`` measures whole calls.
``./pants run benchmarks/proxy:bench_auth_path``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prism.proxy.auth import Authorizer, AuthWrapper, Grant, Operation, TokenVerifier
from proxy.credentials import AUDIENCE, ISSUER, TokenIssuer, write

PATH = "/prism.KeyValueBasicInterface/Get"
REQUEST = b"\x0a\x07default\x12\x01k"  # GetRequest(namespace="default", key="k")


def _grants(n: int) -> list[Grant]:
    """``n - 1`` grants for others, then the caller's (the worst case for a scan)."""
    every = frozenset(Operation)
    out = [Grant(frozenset({f"token:u{i}"}), frozenset({f"ns{i}"}), every) for i in range(n - 1)]
    return [*out, Grant(frozenset({"token:bench"}), frozenset({"default"}), every)]


def _scan(grants: list[Grant], who: frozenset[str], op: Operation, namespace: str) -> bool:
    return any(
        op in g.operations
        and ("*" in g.namespaces or namespace in g.namespaces)
        and ("*" in g.identities or not g.identities.isdisjoint(who))
        for g in grants
    )


def _cpu_us(fn: Callable[[], Any], n: int, repeats: int = 5) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        for _ in range(n):
            fn()
        best = min(best, time.process_time() - start)
    return best / n * 1e6


async def _cpu_us_async(fn: Callable[[], Any], n: int, repeats: int = 5) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        for _ in range(n):
            await fn()
        best = min(best, time.process_time() - start)
    return best / n * 1e6


class _Context:
    """What the wrapper reads from a grpc.aio context: metadata (a bearer token), TLS peer."""

    def __init__(self, token: str) -> None:
        self._md = (("authorization", f"Bearer {token}"), ("user-agent", "bench"))

    def invocation_metadata(self) -> Any:
        return self._md

    def auth_context(self) -> Any:
        return {"transport_security_type": [b"ssl"], "security_level": [b"TSI_PRIVACY"]}


async def _bare(request: bytes, ctx: Any) -> bytes:
    return b""


async def _one(
    grants: list[Grant], verifier: TokenVerifier, who: frozenset[str], ctx: _Context, calls: int
) -> dict[str, float]:
    authz = Authorizer(grants, verifier)
    wrapped = AuthWrapper(authz).wrap(_bare, PATH)
    wrapper_us = await _cpu_us_async(lambda: wrapped(REQUEST, ctx), calls)
    bare_us = await _cpu_us_async(lambda: _bare(REQUEST, ctx), calls)
    index_us = _cpu_us(lambda: authz.check(who, Operation.READ, "default"), calls)
    scan_us = _cpu_us(lambda: _scan(grants, who, Operation.READ, "default"), calls)
    return {
        "auth_wrapper_us": round(wrapper_us - bare_us, 2),
        "check_indexed_us": round(index_us, 3),
        "check_scan_us": round(scan_us, 3),
        "scan_vs_indexed": round(scan_us / index_us, 1),
    }


async def _run(grant_counts: list[int], calls: int) -> dict[str, Any]:
    issuer = TokenIssuer()
    with tempfile.TemporaryDirectory() as tmp:
        jwks = write(Path(tmp) / "jwks.json", issuer.jwks())
        verifier = TokenVerifier(audience=AUDIENCE, issuer=ISSUER, algorithms=["RS256"], jwks=jwks)
    token = issuer.token("bench", exp=2**31 - 1)
    who = verifier.principals(token)  # verified once; every call below is a cache hit
    context = _Context(token)

    out: dict[str, Any] = {"calls": calls}
    for n in grant_counts:
        out[f"{n}_grants"] = await _one(_grants(n), verifier, who, context, calls)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--grants", type=int, default=50, help="the larger grant list")
    ap.add_argument("--calls", type=int, default=20_000)
    args = ap.parse_args(argv)
    result = asyncio.run(_run([1, args.grants], args.calls))
    for key, row in result.items():
        if key != "calls":
            print(f"{key:>10}: {json.dumps(row)}")
    print("CPU µs per call, best of 5 x", result["calls"])
    return 0


if __name__ == "__main__":
    sys.exit(main())

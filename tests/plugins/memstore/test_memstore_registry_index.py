"""MemStore's registry index: an EQ/IN scan visits only the registrations that can match, and
the index follows re-register, unregister and expiry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from prism.interfaces import multicast_registry_pb2 as pb
from prism.plugins.memstore.registry import MemStoreRegistry
from prism.sdk.patterns import Filter, Registered, parse_filter


def where(*conds: tuple[str, pb.FilterOp.ValueType, list[str]]) -> Filter:
    wire = pb.Filter(conditions=[pb.FilterCondition(key=k, op=op, values=v) for k, op, v in conds])
    return parse_filter(wire)


@pytest.fixture
async def registry() -> AsyncIterator[MemStoreRegistry]:
    reg = MemStoreRegistry()
    await reg.start()
    try:
        yield reg
    finally:
        await reg.stop()


async def ids(reg: MemStoreRegistry, ns: str, f: Filter) -> set[str]:
    return {e.identity async for e in reg.scan(ns, f)}


async def test_an_equality_scan_visits_only_the_matching_registrations(
    registry: MemStoreRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(300):
        await registry.put("ns", f"id-{i}", {"group": f"g{i % 10}"}, 0)
    visited: list[str] = []
    live = registry._live

    def counting(namespace: str, identity: str) -> Registered | None:
        visited.append(identity)
        return live(namespace, identity)

    monkeypatch.setattr(registry, "_live", counting)
    assert await ids(registry, "ns", where(("group", pb.FILTER_OP_EQ, ["g3"]))) == {
        f"id-{i}" for i in range(3, 300, 10)
    }
    assert len(visited) == 30
    visited.clear()
    both = where(("group", pb.FILTER_OP_IN, ["g1", "g2"]), ("group", pb.FILTER_OP_NE, ["g2"]))
    assert await ids(registry, "ns", both) == {f"id-{i}" for i in range(1, 300, 10)}
    assert len(visited) == 60
    visited.clear()
    assert len(await ids(registry, "ns", where(("group", pb.FILTER_OP_PREFIX, ["g"])))) == 300
    assert len(visited) == 300  # no EQ/IN: every registration


async def test_the_index_follows_reregister_unregister_and_expiry(
    registry: MemStoreRegistry,
) -> None:
    gold = where(("tier", pb.FILTER_OP_EQ, ["gold"]))
    await registry.put("ns", "dev", {"tier": "gold"}, 0)
    await registry.put("ns", "dev", {"tier": "silver"}, 0)
    assert await ids(registry, "ns", gold) == set()
    assert await ids(registry, "ns", where(("tier", pb.FILTER_OP_EQ, ["silver"]))) == {"dev"}
    assert await registry.delete("ns", "dev") is True
    assert await ids(registry, "ns", where(("tier", pb.FILTER_OP_EQ, ["silver"]))) == set()
    await registry.put("ns", "short", {"tier": "gold"}, 0.1)
    await registry.put("ns", "bare", {}, 0.1)
    assert await ids(registry, "ns", gold) == {"short"}
    await asyncio.sleep(0.25)
    assert await ids(registry, "ns", gold) == set()
    assert len(registry) == 0
    assert registry._pairs == {}

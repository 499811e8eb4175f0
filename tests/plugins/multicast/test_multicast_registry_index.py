"""The Redis registry's metadata index against a real Redis: an EQ/IN Enumerate reads only the
registrations that can match, and the index follows re-register, unregister and expiry; one
Register is one Redis command (a Lua script)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio

from prism.interfaces import multicast_registry_pb2 as pb
from prism.plugins.multicast import Slots, build_coordinator
from prism.plugins.redis.connection import namespace_prefix
from prism.plugins.redis.registry import RedisRegistry
from prism.sdk.patterns import Coordinator, Filter, parse_filter
from services.servers import RedisServer


def where(*conds: tuple[str, pb.FilterOp.ValueType, list[str]]) -> Filter:
    wire = pb.Filter(conditions=[pb.FilterCondition(key=k, op=op, values=v) for k, op, v in conds])
    return parse_filter(wire)


@pytest.fixture
async def slots(redis_srv: RedisServer) -> AsyncIterator[Slots]:
    built = await build_coordinator("redis", "inprocess", redis_addr=redis_srv.addr)
    try:
        yield built
    finally:
        await built.close()


@pytest.fixture
async def raw(redis_srv: RedisServer) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis(host=redis_srv.host, port=redis_srv.port)
    try:
        yield client
    finally:
        await client.aclose()


def fresh_ns() -> str:
    return f"index-{time.time_ns()}"


async def found(c: Coordinator, ns: str, f: Filter) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    async for page in c.enumerate(ns, f, page_size=7):
        out.update({e.identity: dict(e.metadata) for e in page})
    return out


async def calls(raw: redis.asyncio.Redis, command: str) -> int:
    stats: Any = await raw.info("commandstats")
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


async def test_an_equality_enumerate_reads_only_the_matching_registrations(
    slots: Slots, raw: redis.asyncio.Redis
) -> None:
    c, ns = slots.coordinator, fresh_ns()
    for i in range(300):
        await c.register(ns, f"id-{i}", {"group": f"g{i % 10}"}, 60)
    before = await calls(raw, "hgetall")
    assert set(await found(c, ns, where(("group", pb.FILTER_OP_EQ, ["g3"])))) == {
        f"id-{i}" for i in range(3, 300, 10)
    }
    assert await calls(raw, "hgetall") - before == 30  # not 300: the g3 pair set only
    before = await calls(raw, "hgetall")
    hit = await found(c, ns, where(("group", pb.FILTER_OP_IN, ["g1", "g2", "g1"])))
    assert set(hit) == {f"id-{i}" for i in range(300) if i % 10 in (1, 2)}
    assert await calls(raw, "hgetall") - before == 60


async def test_a_multicast_the_index_answers_reads_no_registration(
    slots: Slots, raw: redis.asyncio.Redis
) -> None:
    c, ns = slots.coordinator, fresh_ns()
    for i in range(300):
        await c.register(ns, f"id-{i}", {"group": f"g{i % 10}", "n": str(i)}, 60)
    before = await calls(raw, "hgetall")
    result = await c.multicast(ns, where(("group", pb.FILTER_OP_EQ, ["g3"])), b"x", {})
    assert result.targeted == 30
    result = await c.multicast(ns, where(("group", pb.FILTER_OP_IN, ["g1", "g2"])), b"x", {})
    assert result.targeted == 60
    assert await calls(raw, "hgetall") - before == 0  # the old code read each: 90
    # Not answered by the index alone: each candidate is read and the filter re-checked.
    before = await calls(raw, "hgetall")
    mixed = where(("group", pb.FILTER_OP_EQ, ["g3"]), ("n", pb.FILTER_OP_PREFIX, ["1"]))
    result = await c.multicast(ns, mixed, b"x", {})
    assert result.targeted == len([i for i in range(3, 300, 10) if str(i).startswith("1")])
    assert await calls(raw, "hgetall") - before == 30


async def test_a_multicast_on_the_index_skips_expired_registrations(
    slots: Slots, raw: redis.asyncio.Redis
) -> None:
    c, ns = slots.coordinator, fresh_ns()
    gold = where(("tier", pb.FILTER_OP_EQ, ["gold"]))
    # More than a page (500) of the pair set; the short ones all registered within their TTL,
    # so no Register forgets one (each Register forgets expired registrations).
    for i in range(0, 700, 2):
        await c.register(ns, f"id-{i:03}", {"tier": "gold"}, 60)
    short = [c.register(ns, f"id-{i:03}", {"tier": "gold"}, 1.0) for i in range(1, 700, 2)]
    await asyncio.gather(*short)
    await asyncio.sleep(1.3)
    # Still in the pair set (nothing forgot them yet), but not targeted.
    assert await raw.zcard(RedisRegistry.pair_key(ns, "tier", "gold")) == 700
    result = await c.multicast(ns, gold, b"x", {})
    assert (result.targeted, result.no_receiver) == (350, 350)


async def test_the_index_follows_reregister_and_unregister(
    slots: Slots, raw: redis.asyncio.Redis
) -> None:
    c, ns = slots.coordinator, fresh_ns()
    await c.register(ns, "dev", {"tier": "gold", "region": "eu"}, 0)
    await c.register(ns, "dev", {"tier": "silver"}, 0)
    assert await found(c, ns, where(("tier", pb.FILTER_OP_EQ, ["gold"]))) == {}
    assert await found(c, ns, where(("region", pb.FILTER_OP_EQ, ["eu"]))) == {}
    assert await found(c, ns, where(("tier", pb.FILTER_OP_IN, ["gold", "silver"]))) == {
        "dev": {"tier": "silver"}
    }
    assert await raw.zcard(RedisRegistry.pair_key(ns, "tier", "gold")) == 0
    assert await c.unregister(ns, "dev") is True
    assert await found(c, ns, where(("tier", pb.FILTER_OP_EQ, ["silver"]))) == {}
    assert await raw.zcard(RedisRegistry.pair_key(ns, "tier", "silver")) == 0
    assert await raw.hlen(f"{namespace_prefix(ns)}r:k") == 0


async def test_expired_registrations_drop_out_of_the_index(
    slots: Slots, raw: redis.asyncio.Redis
) -> None:
    c, ns = slots.coordinator, fresh_ns()
    gold = where(("tier", pb.FILTER_OP_EQ, ["gold"]))
    for i in range(5):
        await c.register(ns, f"short-{i}", {"tier": "gold"}, 0.2)
    await c.register(ns, "long", {"tier": "gold"}, 60)
    await asyncio.sleep(0.4)
    # Read before any Register cleaned: the expired ones are not returned, and are forgotten.
    assert set(await found(c, ns, gold)) == {"long"}
    assert await raw.zrange(RedisRegistry.pair_key(ns, "tier", "gold"), 0, -1) == [b"long"]
    assert await raw.hkeys(f"{namespace_prefix(ns)}r:k") == [b"long"]
    # Expired and never read: the next Register forgets them (index, pair sets, r:k).
    for i in range(5):
        await c.register(ns, f"later-{i}", {"tier": "bronze"}, 0.2)
    await asyncio.sleep(0.4)
    await c.register(ns, "trigger", {"tier": "gold"}, 60)
    assert await raw.zcard(RedisRegistry.pair_key(ns, "tier", "bronze")) == 0
    assert set(await raw.hkeys(f"{namespace_prefix(ns)}r:k")) == {b"long", b"trigger"}
    assert await raw.zcard(f"{namespace_prefix(ns)}r:i") == 2


async def test_a_register_is_one_redis_round_trip(
    slots: Slots, raw: redis.asyncio.Redis, redis_srv: RedisServer
) -> None:
    c, ns = slots.coordinator, fresh_ns()
    await c.register(ns, "warm", {"a": "1"}, 60)  # loads the script
    sent: list[str] = []
    monitor_client = redis.asyncio.Redis(host=redis_srv.host, port=redis_srv.port)
    async with monitor_client.monitor() as monitor:

        async def collect() -> None:
            while True:
                seen: Any = await monitor.next_command()
                if seen["client_type"] == "lua":
                    continue  # the script's own calls: no round trip
                if seen["command"].startswith("ECHO end-"):
                    return
                sent.append(seen["command"].split(" ", 1)[0])

        collector = asyncio.ensure_future(collect())
        await asyncio.sleep(0.2)  # MONITOR is on
        for i in range(50):
            await c.register(ns, f"id-{i}", {"a": str(i), "b": "x"}, 60)
        await raw.echo(f"end-{ns}")
        await asyncio.wait_for(collector, 10)
    await monitor_client.aclose()
    # HELLO: the pool opening its idle connections in the background, not a Register's.
    assert [command for command in sent if command != "HELLO"] == ["EVALSHA"] * 50

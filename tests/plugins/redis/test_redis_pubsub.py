"""Redis pub/sub bookkeeping: a live stream claims what a dead stream left pending (item 13),
and a subscriber id with no live stream for ``subscriber_expiry`` is removed (item 8)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, cast

import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from plugins.redis.conftest import settings
from prism.plugins.redis import RedisPlugin
from prism.plugins.redis.connection import namespace_prefix
from prism.sdk.patterns import BrokerMessage
from prism.sdk.plugin import started_plugin
from services.servers import RedisServer

EXPIRY = 0.6  # seconds without a live stream before a subscriber id is removed


@pytest.fixture
async def plugin(redis_srv: RedisServer) -> AsyncIterator[RedisPlugin]:
    p = RedisPlugin(settings(addr=redis_srv.addr, subscriber_expiry=EXPIRY))
    async with started_plugin(p):
        yield p


@pytest.fixture
async def raw(redis_srv: RedisServer) -> AsyncIterator[Redis]:
    host, _, port = redis_srv.addr.rpartition(":")
    conn = Redis(host=host, port=int(port))
    yield conn
    await conn.aclose()


async def _cancel(task: asyncio.Future[Any]) -> None:
    """Cancel ``task`` until it ends: on Python 3.11 a cancel can be lost inside redis-py's
    ``asyncio.wait_for`` (CPython gh-86296; the SDK's stream settling re-cancels the same way),
    and this test hung 300 s on one in a full test run."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=0.05)
    if not task.cancelled():
        task.exception()  # seen


def _stream(ns: str, topic: str) -> str:
    return f"{namespace_prefix(ns)}t:{topic}"


async def _groups(raw: Redis, stream: str) -> set[str]:
    return {g["name"].decode() for g in await raw.xinfo_groups(stream)}


async def test_live_stream_claims_entries_a_dead_stream_left_pending(
    plugin: RedisPlugin, raw: Redis
) -> None:
    ns, topic, group = f"ns-{uuid.uuid4().hex[:8]}", "t", "s1"
    stream = _stream(ns, topic)
    live = plugin.broker.subscribe(ns, topic, group, ack_deadline=1.0)
    await live.start()
    messages = cast(AsyncGenerator[BrokerMessage, None], live.messages())
    first = asyncio.ensure_future(anext(messages))
    await asyncio.sleep(0.2)  # the live stream is past its pending entries, reading new ones
    # Another stream of the same subscriber id reads a batch and dies before acknowledging:
    # XADD and its XREADGROUP in one transaction, so the live stream cannot take the entry.
    async with raw.pipeline(transaction=True) as tx:
        tx.xadd(stream, {"p": b"orphan"})
        tx.xreadgroup(group, group, {stream: ">"}, count=10)
        message_id, _ = await tx.execute()
    started = time.monotonic()
    got = await asyncio.wait_for(first, 10)  # no new Subscribe
    assert (got.message_id, got.payload) == (message_id.decode(), b"orphan")
    assert got.delivery_attempt == 2
    assert time.monotonic() - started >= 0.5, "claimed only once idle past the ack deadline"
    await live.ack([got])
    assert (await raw.xpending(stream, group))["pending"] == 0
    await messages.aclose()
    await live.close()


async def test_subscriber_id_without_live_stream_expires_with_its_pending_entries(
    plugin: RedisPlugin, raw: Redis
) -> None:
    ns, topic = f"ns-{uuid.uuid4().hex[:8]}", "t"
    stream = _stream(ns, topic)
    gone = plugin.broker.subscribe(ns, topic, "gone", ack_deadline=30.0)
    await gone.start()
    await plugin.broker.publish(ns, topic, b"m", {})
    gone_messages = cast(AsyncGenerator[BrokerMessage, None], gone.messages())
    await asyncio.wait_for(anext(gone_messages), 5)  # delivered, never acknowledged
    await gone_messages.aclose()
    await gone.close()
    await raw.xgroup_create(stream, "prism-cli-4242", id="$")  # made before this bookkeeping

    live = plugin.broker.subscribe(ns, topic, "live", ack_deadline=30.0)
    await live.start()
    assert await _groups(raw, stream) == {"gone", "live", "prism-cli-4242"}, "not idle yet"
    live_messages = cast(AsyncGenerator[BrokerMessage, None], live.messages())
    reading = asyncio.ensure_future(anext(live_messages))  # live: refreshes its last-active time
    await asyncio.sleep(EXPIRY * 2.5)

    later = plugin.broker.subscribe(ns, topic, "later", ack_deadline=30.0)
    await later.start()  # sweeps the topic's idle groups
    assert await _groups(raw, stream) == {"live", "later"}
    active = await raw.hgetall(f"{namespace_prefix(ns)}g:{topic}")
    assert set(active) == {b"live", b"later"}
    assert (await raw.xpending(stream, "live"))["pending"] == 0

    await _cancel(reading)
    await live_messages.aclose()
    await live.close()
    await later.close()


async def test_subscriber_expiry_setting(redis_srv: RedisServer) -> None:
    assert settings(addr=redis_srv.addr).subscriber_expiry == 7 * 24 * 3600
    assert settings(addr=redis_srv.addr, subscriber_expiry="90m").subscriber_expiry == 5400


async def test_start_fails_when_the_topic_key_is_not_a_stream(
    plugin: RedisPlugin, raw: Redis
) -> None:
    ns, topic = f"ns-{uuid.uuid4().hex[:8]}", "t"
    await raw.set(_stream(ns, topic), b"not a stream")
    subscription = plugin.broker.subscribe(ns, topic, "s1", ack_deadline=30.0)
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await subscription.start()
    await subscription.close()

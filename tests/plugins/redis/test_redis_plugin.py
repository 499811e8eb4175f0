"""Redis-specific behaviour beyond the conformance kit: key layout, index cleanup, paging,
redelivery per subscriber id, settings, health and a Redis that is down from the start."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, cast

import grpc
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from plugins.redis.conftest import settings
from prism.interfaces import (
    keyvalue_basic_pb2,
    keyvalue_basic_pb2_grpc,
    keyvalue_scan_pb2,
    keyvalue_scan_pb2_grpc,
)
from prism.plugins.redis import RedisPlugin, RedisSettings, classify_redis
from prism.plugins.redis.connection import namespace_prefix
from prism.plugins.redis.store import SCAN_PAGE_SIZE, SWEEP_BATCH
from prism.sdk.config import ConfigError, load_settings, settings_summary
from prism.sdk.errors import DeadlineExceededError, UnavailableError
from prism.sdk.health import HealthStatus
from prism.sdk.limits import MAX_TAGS, MAX_TAGS_BYTES
from prism.sdk.patterns import BrokerMessage
from prism.sdk.plugin import PluginRuntime, started_plugin
from prism.sdk.testing import running_plugin
from services.servers import RedisServer


@pytest.fixture
async def plugin(redis_srv: RedisServer) -> AsyncIterator[RedisPlugin]:
    p = RedisPlugin(settings(addr=redis_srv.addr, pool_max_open=4))
    async with started_plugin(p):
        yield p


def _ns() -> str:
    return f"ns-{uuid.uuid4().hex[:8]}"


async def _keys(p: RedisPlugin, ns: str) -> list[str]:
    return [key async for key, _ in p.store.scan(ns, "", None, True)]


def test_namespace_prefix_is_a_hash_tag_that_cannot_collide() -> None:
    assert namespace_prefix("orders") == "prism:{orders}:"
    assert namespace_prefix("a}b") == "prism:{a%7Db}:"
    assert namespace_prefix("a%7Db") == "prism:{a%257Db}:"


def test_classify_redis_errors() -> None:
    assert isinstance(classify_redis(RedisConnectionError("refused")), UnavailableError)
    assert isinstance(classify_redis(RedisTimeoutError("slow")), DeadlineExceededError)
    assert classify_redis(ResponseError("WRONGTYPE")) is None


async def test_key_layout_and_tags(plugin: RedisPlugin) -> None:
    ns = _ns()
    assert await plugin.store.set(ns, "k", b"v", 30.0, {"owner": "me"}) is True
    assert await plugin.store.set(ns, "k", b"v2", None, {}) is False
    entry = await plugin.store.get(ns, "k")
    assert entry is not None and (entry.value, dict(entry.tags)) == (b"v2", {})
    raw = await plugin.backend.command("HGETALL", f"prism:{{{ns}}}:k:k")
    assert raw == {b"v": b"v2"}
    assert await plugin.backend.command("PTTL", f"prism:{{{ns}}}:k:k") == -1, "Set clears TTL"


async def test_scan_pages_resumes_and_cleans_index(plugin: RedisPlugin) -> None:
    ns = _ns()
    names = sorted(f"key-{i:04d}" for i in range(SCAN_PAGE_SIZE * 2 + 7))
    for name in names:
        await plugin.store.set(ns, name, name.encode(), None, {})
    await plugin.store.set(ns, "other", b"x", None, {})
    assert await _keys(plugin, ns) == [*names, "other"]
    after = [k async for k, _ in plugin.store.scan(ns, "key-", names[300], False)]
    assert after == names[301:]
    # Expired and deleted keys leave index entries behind until a scan meets them.
    await plugin.store.set(ns, "key-0000x", b"gone", 0.05, {})
    await plugin.store.delete(ns, names[1])
    await asyncio.sleep(0.2)
    index = f"prism:{{{ns}}}:idx"
    assert await plugin.backend.command("ZCARD", index) == len(names) + 1
    assert await plugin.store.count(ns, "key-") == len(names) - 1
    assert await plugin.backend.command("ZCARD", index) == len(names)


def _payload_bytes(reply: object) -> int:
    """Bytes of every string in a Redis reply, however nested."""
    if isinstance(reply, bytes):
        return len(reply)
    if isinstance(reply, list):
        return sum(_payload_bytes(part) for part in reply)
    return 0


async def test_scan_reads_no_more_than_the_limit_and_pages_by_bytes(
    redis_plugin: tuple[RedisPlugin, str],
    prism_channel: grpc.aio.Channel,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plugin, ns, mib = redis_plugin[0], _ns(), 1 << 20
    for i in range(6):
        await plugin.store.set(ns, f"k{i}", bytes([i]) * mib, None, {})
    replies: list[int] = []
    script = plugin.backend.script

    async def recording(*args: Any) -> Any:
        reply = await script(*args)
        replies.append(_payload_bytes(reply))
        return reply

    monkeypatch.setattr(plugin.backend, "script", recording)
    kv = keyvalue_scan_pb2_grpc.KeyValueScanInterfaceStub(prism_channel)
    first = [item async for item in kv.Scan(keyvalue_scan_pb2.ScanRequest(namespace=ns, limit=1))]
    assert [(item.key, item.value) for item in first] == [("k0", bytes([0]) * mib)]
    assert sum(replies) < 2 * mib, "one value read from Redis, not a page of 256"
    replies.clear()
    every = [item async for item in kv.Scan(keyvalue_scan_pb2.ScanRequest(namespace=ns))]
    assert [item.value for item in every] == [bytes([i]) * mib for i in range(6)]
    assert max(replies) < 2 * mib, "a page holds about SCAN_PAGE_BYTES, not every value"


async def test_expired_keys_leave_the_index_on_later_writes_without_a_scan(
    plugin: RedisPlugin,
) -> None:
    ns = _ns()
    index, expiring = f"prism:{{{ns}}}:idx", f"prism:{{{ns}}}:exp"
    for i in range(2_000):
        await plugin.store.set(ns, f"k{i:04d}", b"v", 0.1, {})
    await plugin.store.set(ns, "persisted", b"v", 0.1, {})
    assert await plugin.store.persist(ns, "persisted") is True
    await plugin.store.set(ns, "expired", b"v", None, {})
    assert await plugin.store.expire(ns, "expired", 0.1) is True
    await asyncio.sleep(0.3)  # Sets above may have swept some already: 2,000 take > 0.1 s
    for _ in range(2_000 // (SWEEP_BATCH - 1) + 1):  # each Set drops up to SWEEP_BATCH
        await plugin.store.set(ns, "live", b"v", None, {})
    assert await plugin.backend.command("ZCARD", index) == 2  # "persisted" and "live"
    assert await plugin.backend.command("ZCARD", expiring) == 0
    assert await _keys(plugin, ns) == ["live", "persisted"]


async def test_set_with_thousands_of_tags_replaces_the_entry(plugin: RedisPlugin) -> None:
    """Past Lua's unpack limit (~8,000 arguments) the old script failed after its DEL."""
    ns = _ns()
    await plugin.store.set(ns, "k", b"old", None, {"a": "1"})
    tags = {f"t{i}": str(i) for i in range(4_000)}
    assert await plugin.store.set(ns, "k", b"new", None, tags) is False
    entry = await plugin.store.get(ns, "k")
    assert entry is not None and (entry.value, dict(entry.tags)) == (b"new", tags)


async def test_a_set_that_fails_in_redis_leaves_the_old_entry(plugin: RedisPlugin) -> None:
    ns = _ns()
    await plugin.store.set(ns, "k", b"old", 30.0, {"a": "1"})
    index = f"prism:{{{ns}}}:idx"
    await plugin.backend.command("DEL", index)
    await plugin.backend.command("SET", index, "not a sorted set")  # ZADD now fails
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await plugin.store.set(ns, "k", b"new", None, {"b": "2"})
    entry = await plugin.store.get(ns, "k")
    assert entry is not None and (entry.value, dict(entry.tags)) == (b"old", {"a": "1"})
    assert 0 < await plugin.backend.command("PTTL", f"prism:{{{ns}}}:k:k") <= 30_000


async def test_too_many_or_too_big_tags_are_invalid_and_change_nothing(
    prism_channel: grpc.aio.Channel,
) -> None:
    kv = keyvalue_basic_pb2_grpc.KeyValueBasicInterfaceStub(prism_channel)
    ns = _ns()
    await kv.Set(keyvalue_basic_pb2.SetRequest(namespace=ns, key="k", value=b"old"))
    for tags, limit in [
        ({f"t{i}": "" for i in range(MAX_TAGS + 1)}, MAX_TAGS),
        ({"t": "x" * MAX_TAGS_BYTES}, MAX_TAGS_BYTES),
    ]:
        request = keyvalue_basic_pb2.SetRequest(namespace=ns, key="k", value=b"new", tags=tags)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await kv.Set(request)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "tags" in (info.value.details() or "") and str(limit) in (info.value.details() or "")
    got = await kv.Get(keyvalue_basic_pb2.GetRequest(namespace=ns, key="k"))
    assert got.value == b"old"


async def test_unacked_messages_are_redelivered_to_the_same_subscriber(
    plugin: RedisPlugin,
) -> None:
    ns, topic, sub = _ns(), "t", "s1"
    first = plugin.broker.subscribe(ns, topic, sub, ack_deadline=30.0)
    await first.start()
    ids = [await plugin.broker.publish(ns, topic, b"m", {"i": str(i)}) for i in range(3)]
    stream = cast(AsyncGenerator[BrokerMessage, None], first.messages())
    got = [await asyncio.wait_for(anext(stream), 5) for _ in range(3)]
    assert [m.message_id for m in got] == ids
    assert got[1].metadata == {"i": "1"} and got[1].publish_time_ms > 0
    await first.ack(got[:1])  # m1 and m2 were delivered but never acknowledged
    await stream.aclose()
    await first.close()
    await first.close()  # idempotent

    again = plugin.broker.subscribe(ns, topic, sub, ack_deadline=30.0)
    await again.start()  # the group exists: resume, do not reset
    later = await plugin.broker.publish(ns, topic, b"m3", {})
    stream = cast(AsyncGenerator[BrokerMessage, None], again.messages())
    redelivered = [await asyncio.wait_for(anext(stream), 5) for _ in range(3)]
    assert [m.message_id for m in redelivered] == [ids[1], ids[2], later]
    assert [m.delivery_attempt for m in redelivered] == [2, 2, 1]
    await stream.aclose()
    await again.close()


async def test_redis_connection_error_discards_the_connection_and_counts(
    plugin: RedisPlugin,
) -> None:
    """Pool and breaker classify redis-py errors (not OSErrors) with the plugin's classifiers."""
    backend = plugin.backend
    broken_before = backend.pool.stats().destroyed_by_cause["broken"]

    async def lost(conn: object) -> None:
        raise RedisConnectionError("Connection reset by peer")

    with pytest.raises(UnavailableError, match="redis unavailable"):
        await backend.run(lost)
    assert backend.pool.stats().destroyed_by_cause["broken"] == broken_before + 1
    assert backend.breaker.failure_rate > 0
    assert await backend.command("PING")  # a fresh connection serves the next call


async def test_pool_busy_is_degraded(redis_srv: RedisServer) -> None:
    p = RedisPlugin(settings(addr=redis_srv.addr, pool_max_open=2))
    async with started_plugin(p):
        assert (await p.health.run_checks()).status is HealthStatus.HEALTHY
        async with p.backend.pool.acquire(), p.backend.pool.acquire():
            report = await p.health.run_checks()
        assert report.status is HealthStatus.DEGRADED
        assert "pool" in report.checks and "100% busy" in report.checks["pool"].message


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_redis_down_from_the_start_fails_fast_and_is_unhealthy() -> None:
    plugin = RedisPlugin(settings(addr=f"127.0.0.1:{_closed_port()}"))
    async with running_plugin(plugin) as address, grpc.aio.insecure_channel(address) as ch:
        kv = keyvalue_basic_pb2_grpc.KeyValueBasicInterfaceStub(ch)
        for _ in range(8):
            started = time.monotonic()
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await kv.Get(keyvalue_basic_pb2.GetRequest(namespace="n", key="k"), timeout=10)
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE
            assert time.monotonic() - started < 2.0
        assert plugin.health.report().status is HealthStatus.UNHEALTHY


def test_settings_from_env() -> None:
    env = {
        "PRISM_REDIS_ADDR": "redis.local:6380",
        "PRISM_REDIS_PASSWORD": "hunter2",
        "PRISM_REDIS_COMMAND_TIMEOUT": "250ms",
        "PRISM_REDIS_TLS": "true",
    }
    s = load_settings(RedisSettings, environ=env)
    assert (s.addr, s.command_timeout, s.tls) == ("redis.local:6380", 0.25, True)
    assert s.password is not None and s.password.get_secret_value() == "hunter2"
    assert "hunter2" not in str(settings_summary(s))
    with pytest.raises(ConfigError) as info:
        load_settings(RedisSettings, environ={"PRISM_REDIS_ADDR": "nohost", "PRISM_REDIS_DB": "-1"})
    assert "PRISM_REDIS_ADDR" in str(info.value) and "PRISM_REDIS_DB" in str(info.value)


async def test_initialize_overrides_build_the_backend(redis_srv: RedisServer) -> None:
    plugin = RedisPlugin(settings(addr=f"127.0.0.1:{_closed_port()}"))
    runtime = PluginRuntime(plugin)
    await runtime.initialize({"addr": redis_srv.addr, "pool_max_open": "3"})
    try:
        assert plugin.backend.settings.pool_max_open == 3
        ns = _ns()
        assert await plugin.kv_store().set(ns, "k", b"v", None, {}) is True  # the live server
    finally:
        await runtime.stop()

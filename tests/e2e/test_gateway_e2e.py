"""Acceptance of the proxy: every pattern call through `prism up` against real backends.

One gateway routes ``mem`` (MemStore), ``cache`` (Redis) and ``events`` (Kafka). KV calls run
on both KV namespaces with the same assertions; Publish/Subscribe runs on Kafka; one test
checks at-least-once delivery across an abrupt disconnect on Redis and Kafka; the last test
kills the Redis plugin process and checks the failure behaviour docs/proxy.md promises:
UNAVAILABLE within 1 s, health NOT_SERVING then SERVING, then calls succeed again (the data
lives in Redis, so it is still there after the restart).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from prism.interfaces import keyvalue_basic_pb2 as kv
from prism.interfaces import keyvalue_basic_pb2_grpc as kv_grpc
from prism.interfaces import keyvalue_scan_pb2 as scan
from prism.interfaces import keyvalue_scan_pb2_grpc as scan_grpc
from prism.interfaces import keyvalue_ttl_pb2 as ttl
from prism.interfaces import keyvalue_ttl_pb2_grpc as ttl_grpc
from prism.interfaces import pubsub_basic_pb2 as ps
from prism.interfaces import pubsub_basic_pb2_grpc as ps_grpc
from proxy.gateway import Gateway

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
KV_NAMESPACES = ("mem", "cache")  # MemStore and Redis: same assertions on both
PUBSUB_NAMESPACE = "events"  # Kafka
CALL_TIMEOUT = 10.0  # generous: 2-core machines with Kafka and Redis running
pytestmark = pytest.mark.timeout(600)


@pytest.fixture
async def channel(gateway: Gateway) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(gateway.addr) as ch:
        yield ch


def _run_id() -> str:
    """Keys and topics unique to this run (a shared external Redis/Kafka may be reused)."""
    return uuid.uuid4().hex[:12]


def plugin_pid(parent: int, module: str) -> int:
    """The pid of the child of ``parent`` running ``python -m <module>`` (read from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and module.encode() in argv:
            found.append(int(entry))
    assert len(found) == 1, f"expected one {module} child of pid {parent}, found {found}"
    return found[0]


@pytest.mark.parametrize("namespace", KV_NAMESPACES)
async def test_set_get_exists_delete(channel: grpc.aio.Channel, namespace: str) -> None:
    stub = kv_grpc.KeyValueBasicInterfaceStub(channel)
    key = f"e2e/{_run_id()}/basic"
    t = CALL_TIMEOUT
    set1 = await stub.Set(kv.SetRequest(namespace=namespace, key=key, value=b"v1"), timeout=t)
    assert set1.created
    set2 = await stub.Set(kv.SetRequest(namespace=namespace, key=key, value=b"v2"), timeout=t)
    assert not set2.created
    got = await stub.Get(kv.GetRequest(namespace=namespace, key=key), timeout=t)
    assert got.value == b"v2"
    assert (await stub.Exists(kv.ExistsRequest(namespace=namespace, key=key), timeout=t)).exists
    assert (await stub.Delete(kv.DeleteRequest(namespace=namespace, key=key), timeout=t)).deleted
    assert not (
        await stub.Delete(kv.DeleteRequest(namespace=namespace, key=key), timeout=t)
    ).deleted
    exists = await stub.Exists(kv.ExistsRequest(namespace=namespace, key=key), timeout=t)
    assert not exists.exists
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.Get(kv.GetRequest(namespace=namespace, key=key), timeout=t)
    assert info.value.code() is grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("namespace", KV_NAMESPACES)
async def test_expire_and_get_ttl(channel: grpc.aio.Channel, namespace: str) -> None:
    basic = kv_grpc.KeyValueBasicInterfaceStub(channel)
    stub = ttl_grpc.KeyValueTTLInterfaceStub(channel)
    key = f"e2e/{_run_id()}/ttl"
    t = CALL_TIMEOUT
    await basic.Set(kv.SetRequest(namespace=namespace, key=key, value=b"x"), timeout=t)
    before = await stub.GetTTL(ttl.GetTTLRequest(namespace=namespace, key=key), timeout=t)
    assert not before.has_ttl
    await stub.Expire(ttl.ExpireRequest(namespace=namespace, key=key, ttl_seconds=100), timeout=t)
    after = await stub.GetTTL(ttl.GetTTLRequest(namespace=namespace, key=key), timeout=t)
    assert after.has_ttl and 50 < after.ttl_seconds <= 100
    # A short TTL: the key goes away (poll; no fixed sleep that a busy machine could beat).
    await stub.Expire(ttl.ExpireRequest(namespace=namespace, key=key, ttl_seconds=0.3), timeout=t)
    deadline = time.monotonic() + 10.0
    while (await basic.Exists(kv.ExistsRequest(namespace=namespace, key=key), timeout=t)).exists:
        assert time.monotonic() < deadline, "key did not expire within 10 s of a 0.3 s TTL"
        await asyncio.sleep(0.05)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.GetTTL(ttl.GetTTLRequest(namespace=namespace, key=key), timeout=t)
    assert info.value.code() is grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("namespace", KV_NAMESPACES)
async def test_scan_in_order_and_resume_from_cursor(
    channel: grpc.aio.Channel, namespace: str
) -> None:
    basic = kv_grpc.KeyValueBasicInterfaceStub(channel)
    stub = scan_grpc.KeyValueScanInterfaceStub(channel)
    prefix = f"e2e/{_run_id()}/scan/"
    names = ["d", "a", "c", "e", "b"]
    for name in names:
        req = kv.SetRequest(namespace=namespace, key=prefix + name, value=name.encode() * 3)
        await basic.Set(req, timeout=CALL_TIMEOUT)
    await basic.Set(kv.SetRequest(namespace=namespace, key=prefix[:-1], value=b"outside"))

    async def collect(req: scan.ScanRequest) -> list[scan.ScanItem]:
        return [item async for item in stub.Scan(req, timeout=CALL_TIMEOUT)]

    items = await collect(scan.ScanRequest(namespace=namespace, prefix=prefix))
    assert [i.key for i in items] == [prefix + n for n in sorted(names)]
    assert [i.value for i in items] == [n.encode() * 3 for n in sorted(names)]
    first = await collect(scan.ScanRequest(namespace=namespace, prefix=prefix, limit=2))
    assert [i.key for i in first] == [prefix + "a", prefix + "b"]
    rest = await collect(
        scan.ScanRequest(namespace=namespace, prefix=prefix, cursor=first[-1].cursor)
    )
    assert [i.key for i in rest] == [prefix + n for n in ("c", "d", "e")]
    count = await stub.Count(scan.CountRequest(namespace=namespace, prefix=prefix))
    assert count.count == len(names)


async def test_publish_subscribe_in_order_on_kafka(channel: grpc.aio.Channel) -> None:
    stub = ps_grpc.PubSubBasicInterfaceStub(channel)
    topic = f"e2e-{_run_id()}"
    payloads = [f"m{i}".encode() for i in range(10)]
    subscribers = ("sub-a", "sub-b")  # two subscriber ids: each gets every message (fan-out)
    calls = [
        stub.Subscribe(
            ps.SubscribeRequest(namespace=PUBSUB_NAMESPACE, topic=topic, subscriber_id=sub),
            timeout=120.0,
        )
        for sub in subscribers
    ]
    try:
        # The contract: a message published after the subscriber saw initial metadata arrives.
        for call in calls:
            headers = await asyncio.wait_for(call.initial_metadata(), 60.0)
            assert ("prism-subscribed", "1") in tuple(headers)
        ids = []
        for i, payload in enumerate(payloads):
            req = ps.PublishRequest(
                namespace=PUBSUB_NAMESPACE, topic=topic, payload=payload, metadata={"n": str(i)}
            )
            ids.append((await stub.Publish(req, timeout=CALL_TIMEOUT)).message_id)
        assert len(set(ids)) == len(ids) and all(ids)

        async def read(call: grpc.aio.UnaryStreamCall) -> list[ps.Message]:
            out: list[ps.Message] = []
            async for message in call:
                out.append(message)
                if len(out) == len(payloads):
                    break
            return out

        for call in calls:
            got = await asyncio.wait_for(read(call), 60.0)
            assert [m.payload for m in got] == payloads
            assert [m.metadata["n"] for m in got] == [str(i) for i in range(len(payloads))]
            assert [m.message_id for m in got] == ids
            assert all(m.topic == topic for m in got)
        unsub = await stub.Unsubscribe(
            ps.UnsubscribeRequest(namespace=PUBSUB_NAMESPACE, topic=topic, subscriber_id="sub-a"),
            timeout=CALL_TIMEOUT,
        )
        assert unsub.unsubscribed
    finally:
        for call in calls:
            call.cancel()


@pytest.mark.parametrize("namespace", ["cache", PUBSUB_NAMESPACE])  # Redis, Kafka
async def test_unacked_messages_survive_an_abrupt_disconnect(
    channel: grpc.aio.Channel, namespace: str
) -> None:
    """At-least-once end to end: read k of N and ack them, drop the stream without a word,
    subscribe again with the same id: every unacknowledged message arrives (duplicates are
    allowed and counted, none may be lost)."""
    stub = ps_grpc.PubSubBasicInterfaceStub(channel)
    topic, subscriber, total, k = f"e2e-ack-{_run_id()}", f"sub-{_run_id()}", 50, 5
    request = ps.SubscribeRequest(namespace=namespace, topic=topic, subscriber_id=subscriber)

    async def ack(messages: list[ps.Message]) -> int:
        req = ps.AckRequest(
            namespace=namespace,
            topic=topic,
            subscriber_id=subscriber,
            ack_ids=[m.ack_id for m in messages],
        )
        return int((await stub.Ack(req, timeout=CALL_TIMEOUT)).acknowledged)

    first = stub.Subscribe(request, timeout=120.0)
    try:
        await asyncio.wait_for(first.initial_metadata(), 60.0)
        ids = []
        for i in range(total):
            req = ps.PublishRequest(namespace=namespace, topic=topic, payload=f"m{i}".encode())
            ids.append((await stub.Publish(req, timeout=CALL_TIMEOUT)).message_id)
        head = [await asyncio.wait_for(first.read(), 60.0) for _ in range(k)]
        assert [m.message_id for m in head] == ids[:k]
        assert await ack(head) == k
    finally:
        first.cancel()  # abrupt: no Unsubscribe, the rest was never acknowledged

    second = stub.Subscribe(request, timeout=120.0)
    seen: list[str] = []
    try:
        await asyncio.wait_for(second.initial_metadata(), 60.0)
        async with asyncio.timeout(60.0):
            while not set(ids[k:]) <= set(seen):
                message = await second.read()
                assert message is not grpc.aio.EOF, "the stream ended early"
                seen.append(message.message_id)
                assert await ack([message]) in (0, 1)  # 0: a duplicate already acknowledged
    finally:
        second.cancel()
    duplicates = len(seen) - len(set(seen)) + len(set(seen) & set(ids[:k]))
    print(f"{namespace}: {total - k} unacked redelivered, {duplicates} duplicate(s)")


async def test_unknown_namespace_is_not_found(channel: grpc.aio.Channel) -> None:
    stub = kv_grpc.KeyValueBasicInterfaceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.Get(kv.GetRequest(namespace="nope", key="k"), timeout=CALL_TIMEOUT)
    assert info.value.code() is grpc.StatusCode.NOT_FOUND
    assert "nope" in (info.value.details() or "")


async def test_killed_plugin_is_unavailable_then_restarted(
    gateway: Gateway, channel: grpc.aio.Channel
) -> None:
    """Runs last (it restarts the Redis plugin): SIGKILL -> UNAVAILABLE -> restart -> SERVING."""
    namespace = "cache"
    stub = kv_grpc.KeyValueBasicInterfaceStub(channel)
    key = f"e2e/{_run_id()}/survives"
    await stub.Set(kv.SetRequest(namespace=namespace, key=key, value=b"kept"), timeout=CALL_TIMEOUT)
    assert gateway.proc is not None
    old_pid = plugin_pid(gateway.proc.pid, "prism.plugins.redis")

    statuses: list[int] = []
    first_status = asyncio.Event()
    watch = health_pb2_grpc.HealthStub(channel).Watch(
        health_pb2.HealthCheckRequest(service=namespace)
    )

    async def follow() -> None:
        async for reply in watch:
            statuses.append(reply.status)
            first_status.set()
            if NOT_SERVING in statuses and reply.status == SERVING:
                return

    follower = asyncio.create_task(follow())
    try:
        await asyncio.wait_for(first_status.wait(), 30.0)
        assert statuses == [SERVING]
        os.kill(old_pid, signal.SIGKILL)
        killed = time.monotonic()
        while True:
            try:
                await stub.Get(kv.GetRequest(namespace=namespace, key=key), timeout=CALL_TIMEOUT)
            except grpc.aio.AioRpcError as exc:
                assert exc.code() is grpc.StatusCode.UNAVAILABLE, (
                    f"{exc}\n{gateway.log_text()[-5000:]}"
                )
                unavailable_after = time.monotonic() - killed
                break
            await asyncio.sleep(0.005)
        assert unavailable_after < 1.0
        # Other namespaces are not affected while the Redis plugin is down.
        mem = await stub.Set(kv.SetRequest(namespace="mem", key=key, value=b"m"))
        assert mem is not None
        await asyncio.wait_for(follower, 120.0)
        assert statuses[0] == SERVING and NOT_SERVING in statuses and statuses[-1] == SERVING
        new_pid = plugin_pid(gateway.proc.pid, "prism.plugins.redis")
        assert new_pid != old_pid
        got = await stub.Get(kv.GetRequest(namespace=namespace, key=key), timeout=CALL_TIMEOUT)
        assert got.value == b"kept"  # the data is in Redis, not in the plugin process
        await stub.Set(kv.SetRequest(namespace=namespace, key=key, value=b"again"))
        assert (await stub.Get(kv.GetRequest(namespace=namespace, key=key))).value == b"again"
    finally:
        follower.cancel()

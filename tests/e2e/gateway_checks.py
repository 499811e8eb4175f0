"""Checks of a plugin through a real `prism up`, shared by tests/e2e and the plugins' folders.

A test module opts in to this module's fixtures (``pytest_plugins = ["e2e.gateway_checks"]``),
gives the gateway's YAML config as a module-scope ``gateway_config`` fixture and the
``namespace`` to use, and subclasses these classes: they get a ``channel`` to the gateway, and
the same assertions run on every plugin that serves the interface.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import grpc
import psutil
import pytest

from prism.interfaces import keyvalue_basic_pb2 as kv
from prism.interfaces import keyvalue_basic_pb2_grpc as kv_grpc
from prism.interfaces import keyvalue_scan_pb2 as scan
from prism.interfaces import keyvalue_scan_pb2_grpc as scan_grpc
from prism.interfaces import keyvalue_ttl_pb2 as ttl
from prism.interfaces import keyvalue_ttl_pb2_grpc as ttl_grpc
from prism.interfaces import pubsub_basic_pb2 as ps
from prism.interfaces import pubsub_basic_pb2_grpc as ps_grpc
from proxy.gateway import Gateway

__all__ = [
    "CALL_TIMEOUT",
    "AtLeastOnceThroughGateway",
    "KeyValueThroughGateway",
    "channel",
    "gateway",
    "plugin_pid",
    "run_id",
]

CALL_TIMEOUT = 10.0  # generous: 2-core machines with Kafka and Redis running


def run_id() -> str:
    """Keys and topics unique to this run (a shared external Redis/Kafka may be reused)."""
    return uuid.uuid4().hex[:12]


@pytest.fixture(scope="module")
def gateway(gateway_config: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """`prism up` with the module's ``gateway_config``; it must exit 0 when stopped."""
    gw = Gateway(gateway_config, tmp_path_factory.mktemp("gateway")).start(timeout=120.0)
    try:
        yield gw
    finally:
        code = gw.stop()
        tail = "\n".join(gw.log_text().splitlines()[-60:])
        assert code == 0, f"prism up exited with {code}:\n{tail}"


@pytest.fixture
async def channel(gateway: Gateway) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(gateway.addr) as ch:
        yield ch


def plugin_pid(parent: int, module: str) -> int:
    """The pid of the child of ``parent`` running ``python -m <module>``."""
    found = []
    for child in psutil.Process(parent).children():
        with contextlib.suppress(psutil.NoSuchProcess):
            if module in child.cmdline():
                found.append(child.pid)
    assert len(found) == 1, f"expected one {module} child of pid {parent}, found {found}"
    return found[0]


class KeyValueThroughGateway:
    """KeyValueBasic, KeyValueTTL and KeyValueScan calls routed by the gateway."""

    async def test_set_get_exists_delete(self, channel: grpc.aio.Channel, namespace: str) -> None:
        stub = kv_grpc.KeyValueBasicInterfaceStub(channel)
        key = f"e2e/{run_id()}/basic"
        t = CALL_TIMEOUT
        set1 = await stub.Set(kv.SetRequest(namespace=namespace, key=key, value=b"v1"), timeout=t)
        assert set1.created
        set2 = await stub.Set(kv.SetRequest(namespace=namespace, key=key, value=b"v2"), timeout=t)
        assert not set2.created
        got = await stub.Get(kv.GetRequest(namespace=namespace, key=key), timeout=t)
        assert got.value == b"v2"
        exists = await stub.Exists(kv.ExistsRequest(namespace=namespace, key=key), timeout=t)
        assert exists.exists
        deleted = await stub.Delete(kv.DeleteRequest(namespace=namespace, key=key), timeout=t)
        assert deleted.deleted
        again = await stub.Delete(kv.DeleteRequest(namespace=namespace, key=key), timeout=t)
        assert not again.deleted
        exists = await stub.Exists(kv.ExistsRequest(namespace=namespace, key=key), timeout=t)
        assert not exists.exists
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.Get(kv.GetRequest(namespace=namespace, key=key), timeout=t)
        assert info.value.code() is grpc.StatusCode.NOT_FOUND

    async def test_expire_and_get_ttl(self, channel: grpc.aio.Channel, namespace: str) -> None:
        basic = kv_grpc.KeyValueBasicInterfaceStub(channel)
        stub = ttl_grpc.KeyValueTTLInterfaceStub(channel)
        key = f"e2e/{run_id()}/ttl"
        t = CALL_TIMEOUT
        await basic.Set(kv.SetRequest(namespace=namespace, key=key, value=b"x"), timeout=t)
        before = await stub.GetTTL(ttl.GetTTLRequest(namespace=namespace, key=key), timeout=t)
        assert not before.has_ttl
        req = ttl.ExpireRequest(namespace=namespace, key=key, ttl_seconds=100)
        await stub.Expire(req, timeout=t)
        after = await stub.GetTTL(ttl.GetTTLRequest(namespace=namespace, key=key), timeout=t)
        assert after.has_ttl and 50 < after.ttl_seconds <= 100
        # A short TTL: the key goes away (poll; no fixed sleep that a busy machine could beat).
        req = ttl.ExpireRequest(namespace=namespace, key=key, ttl_seconds=0.3)
        await stub.Expire(req, timeout=t)
        deadline = time.monotonic() + 10.0
        exists = kv.ExistsRequest(namespace=namespace, key=key)
        while (await basic.Exists(exists, timeout=t)).exists:
            assert time.monotonic() < deadline, "key did not expire within 10 s of a 0.3 s TTL"
            await asyncio.sleep(0.05)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.GetTTL(ttl.GetTTLRequest(namespace=namespace, key=key), timeout=t)
        assert info.value.code() is grpc.StatusCode.NOT_FOUND

    async def test_scan_in_order_and_resume_from_cursor(
        self, channel: grpc.aio.Channel, namespace: str
    ) -> None:
        basic = kv_grpc.KeyValueBasicInterfaceStub(channel)
        stub = scan_grpc.KeyValueScanInterfaceStub(channel)
        prefix = f"e2e/{run_id()}/scan/"
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


class AtLeastOnceThroughGateway:
    """PubSubBasic delivery guarantees routed by the gateway."""

    async def test_unacked_messages_survive_an_abrupt_disconnect(
        self, channel: grpc.aio.Channel, namespace: str
    ) -> None:
        """At-least-once end to end: read k of N and ack them, drop the stream without a word,
        subscribe again with the same id: every unacknowledged message arrives (duplicates are
        allowed and counted, none may be lost)."""
        stub = ps_grpc.PubSubBasicInterfaceStub(channel)
        topic, subscriber, total, k = f"e2e-ack-{run_id()}", f"sub-{run_id()}", 50, 5
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

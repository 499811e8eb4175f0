"""Runs the conformance kit against an in-memory reference server, and against broken ones.

The reference servicers below are a fake (a unit test of the kit, not a plugin): a dict with
lazy expiry and asyncio queues, served on a real grpc.aio server on 127.0.0.1. All four
conformance classes must pass against it. The TestBroken* classes, defined only when
PRISM_KIT_SELFTEST_BROKEN=1, each break one rule; test_kit_catches_broken_servers runs them in
a subprocess and checks the kit fails exactly the tests for the broken rule (and does not hang).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pytest
import pytest_asyncio

from prism.interfaces import (
    keyvalue_basic_pb2,
    keyvalue_basic_pb2_grpc,
    keyvalue_scan_pb2,
    keyvalue_scan_pb2_grpc,
    keyvalue_ttl_pb2,
    keyvalue_ttl_pb2_grpc,
    pubsub_basic_pb2,
    pubsub_basic_pb2_grpc,
)
from prism.sdk.limits import (
    ack_deadline_seconds,
    max_outstanding,
    validate_key,
    validate_name,
    validate_ttl,
    validate_value,
)
from prism.sdk.testing import (
    KeyValueBasicConformance,
    KeyValueScanConformance,
    KeyValueTTLConformance,
    PubSubBasicConformance,
)

BROKEN_ENV = "PRISM_KIT_SELFTEST_BROKEN"
T = TypeVar("T")


# --- reference key-value backend -------------------------------------------------------------


@dataclass
class Entry:
    value: bytes
    tags: dict[str, str]
    expires_at: float | None = None


async def checked(context: Any, check: Callable[[], None]) -> None:
    """Run a prism.sdk.limits validator; its error becomes INVALID_ARGUMENT with its message."""
    try:
        check()
    except Exception as exc:  # InvalidArgumentError
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))


async def checked_value(context: Any, parse: Callable[[int], T], value: int) -> T:
    """Like :func:`checked` for a validator that returns the parsed value."""
    try:
        return parse(value)
    except Exception as exc:  # InvalidArgumentError
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        raise  # abort raises; this keeps mypy aware


class ReferenceKeyValue(
    keyvalue_basic_pb2_grpc.KeyValueBasicInterfaceServicer,
    keyvalue_ttl_pb2_grpc.KeyValueTTLInterfaceServicer,
    keyvalue_scan_pb2_grpc.KeyValueScanInterfaceServicer,
):
    """All three key-value interfaces over one dict; expiry is checked lazily on access."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], Entry] = {}

    def live(self, namespace: str, key: str) -> Entry | None:
        entry = self.entries.get((namespace, key))
        if entry is not None and entry.expires_at is not None:
            if entry.expires_at <= time.monotonic():
                del self.entries[(namespace, key)]
                return None
        return entry

    async def check_key(self, context: Any, namespace: str, key: str) -> None:
        await checked(context, lambda: validate_name("namespace", namespace))
        await checked(context, lambda: validate_key(key))

    async def existing(self, context: Any, namespace: str, key: str) -> Entry:
        await self.check_key(context, namespace, key)
        entry = self.live(namespace, key)
        if entry is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"key {key!r} not found")
        assert entry is not None
        return entry

    def set_ttl(self, entry: Entry, request: Any) -> None:
        entry.expires_at = (
            time.monotonic() + request.ttl_seconds if request.HasField("ttl_seconds") else None
        )

    async def Set(self, request: Any, context: Any) -> keyvalue_basic_pb2.SetResponse:
        await self.check_key(context, request.namespace, request.key)
        await checked(context, lambda: validate_value(request.value))
        if request.HasField("ttl_seconds"):
            await checked(context, lambda: validate_ttl(request.ttl_seconds))
        created = self.live(request.namespace, request.key) is None
        entry = Entry(request.value, dict(request.tags))
        self.set_ttl(entry, request)
        self.entries[(request.namespace, request.key)] = entry
        return keyvalue_basic_pb2.SetResponse(created=created)

    async def Get(self, request: Any, context: Any) -> keyvalue_basic_pb2.GetResponse:
        entry = await self.existing(context, request.namespace, request.key)
        return keyvalue_basic_pb2.GetResponse(value=entry.value, tags=entry.tags)

    async def Delete(self, request: Any, context: Any) -> keyvalue_basic_pb2.DeleteResponse:
        await self.check_key(context, request.namespace, request.key)
        deleted = self.live(request.namespace, request.key) is not None
        self.entries.pop((request.namespace, request.key), None)
        return keyvalue_basic_pb2.DeleteResponse(deleted=deleted)

    async def Exists(self, request: Any, context: Any) -> keyvalue_basic_pb2.ExistsResponse:
        await self.check_key(context, request.namespace, request.key)
        exists = self.live(request.namespace, request.key) is not None
        return keyvalue_basic_pb2.ExistsResponse(exists=exists)

    async def Expire(self, request: Any, context: Any) -> keyvalue_ttl_pb2.ExpireResponse:
        entry = await self.existing(context, request.namespace, request.key)
        await checked(context, lambda: validate_ttl(request.ttl_seconds))
        entry.expires_at = time.monotonic() + request.ttl_seconds
        return keyvalue_ttl_pb2.ExpireResponse()

    async def GetTTL(self, request: Any, context: Any) -> keyvalue_ttl_pb2.GetTTLResponse:
        entry = await self.existing(context, request.namespace, request.key)
        if entry.expires_at is None:
            return keyvalue_ttl_pb2.GetTTLResponse(has_ttl=False)
        left = max(entry.expires_at - time.monotonic(), 0.0)
        return keyvalue_ttl_pb2.GetTTLResponse(has_ttl=True, ttl_seconds=left)

    async def Persist(self, request: Any, context: Any) -> keyvalue_ttl_pb2.PersistResponse:
        entry = await self.existing(context, request.namespace, request.key)
        persisted = entry.expires_at is not None
        entry.expires_at = None
        return keyvalue_ttl_pb2.PersistResponse(persisted=persisted)

    def matching(self, namespace: str, prefix: str) -> list[str]:
        keys = [k for (ns, k) in list(self.entries) if ns == namespace and k.startswith(prefix)]
        return sorted(
            (k for k in keys if self.live(namespace, k) is not None), key=lambda k: k.encode()
        )

    async def Scan(self, request: Any, context: Any) -> AsyncIterator[keyvalue_scan_pb2.ScanItem]:
        await checked(context, lambda: validate_name("namespace", request.namespace))
        keys = self.matching(request.namespace, request.prefix)
        if request.cursor:
            keys = [k for k in keys if k.encode() > request.cursor.encode()]
        if request.limit:
            keys = keys[: request.limit]
        for key in keys:
            entry = self.live(request.namespace, key)
            if entry is None:
                continue
            value = b"" if request.keys_only else entry.value
            yield keyvalue_scan_pb2.ScanItem(key=key, value=value, cursor=key)

    async def Count(self, request: Any, context: Any) -> keyvalue_scan_pb2.CountResponse:
        await checked(context, lambda: validate_name("namespace", request.namespace))
        return keyvalue_scan_pb2.CountResponse(
            count=len(self.matching(request.namespace, request.prefix))
        )


# --- reference pub/sub backend ----------------------------------------------------------------


@dataclass
class Group:
    """One subscriber id on one topic: readers sharing it split the queue; ``pending`` holds
    what was delivered and not yet acknowledged (delivered again on the next Subscribe)."""

    queue: asyncio.Queue[pubsub_basic_pb2.Message | None] = field(default_factory=asyncio.Queue)
    readers: int = 0
    pending: dict[str, pubsub_basic_pb2.Message] = field(default_factory=dict)


class ReferencePubSub(pubsub_basic_pb2_grpc.PubSubBasicInterfaceServicer):
    remember_deliveries = True  # False: acknowledged once written (the old at-most-once bug)

    def __init__(self) -> None:
        self.groups: dict[tuple[str, str], dict[str, Group]] = {}
        self.ids = itertools.count(1)

    async def check(self, context: Any, request: Any) -> None:
        await checked(context, lambda: validate_name("namespace", request.namespace))
        await checked(context, lambda: validate_name("topic", request.topic))

    async def Publish(self, request: Any, context: Any) -> pubsub_basic_pb2.PublishResponse:
        await self.check(context, request)
        message = pubsub_basic_pb2.Message(
            topic=request.topic,
            message_id=str(next(self.ids)),
            payload=request.payload,
            metadata=request.metadata,
            publish_time_ms=int(time.time() * 1000),
        )
        for group in self.groups.get((request.namespace, request.topic), {}).values():
            group.queue.put_nowait(message)
        return pubsub_basic_pb2.PublishResponse(message_id=message.message_id)

    def join(self, request: Any) -> Group:
        topic = self.groups.setdefault((request.namespace, request.topic), {})
        group = topic.setdefault(request.subscriber_id, Group())
        group.readers += 1
        return group

    async def announce_ready(self, context: Any) -> None:
        """The readiness rule: initial metadata goes out once the subscription is active."""
        await context.send_initial_metadata(())

    async def Subscribe(
        self, request: Any, context: Any
    ) -> AsyncIterator[pubsub_basic_pb2.Message]:
        await self.check(context, request)
        await checked(context, lambda: validate_name("subscriber_id", request.subscriber_id))
        deadline = await checked_value(context, ack_deadline_seconds, request.ack_deadline_ms)
        window = await checked_value(context, max_outstanding, request.max_outstanding)
        auto = request.ack_mode == pubsub_basic_pb2.ACK_MODE_AUTO
        group = self.join(request)
        due = dict.fromkeys(group.pending, 0.0)  # this stream's deliveries: ack id -> deadline
        try:
            await self.announce_ready(context)
            while True:
                for ack_id in [i for i in due if i not in group.pending]:
                    del due[ack_id]
                for ack_id, at in list(due.items()):
                    if at <= time.monotonic():
                        message = group.pending[ack_id]
                        message.delivery_attempt += 1
                        due[ack_id] = time.monotonic() + deadline
                        yield message
                wait = min(due.values(), default=time.monotonic() + 1) - time.monotonic()
                if not auto and len(due) >= window:  # flow control: wait for acks
                    await asyncio.sleep(min(max(wait, 0.0), 0.02))
                    continue
                try:
                    new = await asyncio.wait_for(group.queue.get(), max(wait, 0.0))
                except TimeoutError:
                    continue
                if new is None:
                    return
                if auto or not self.remember_deliveries:
                    yield new
                    continue
                delivered = pubsub_basic_pb2.Message(ack_id=new.message_id, delivery_attempt=1)
                delivered.MergeFrom(new)
                group.pending[new.message_id] = delivered
                due[new.message_id] = time.monotonic() + deadline
                yield delivered
        finally:
            group.readers -= 1

    async def Ack(self, request: Any, context: Any) -> pubsub_basic_pb2.AckResponse:
        await self.check(context, request)
        await checked(context, lambda: validate_name("subscriber_id", request.subscriber_id))
        group = self.groups.get((request.namespace, request.topic), {}).get(request.subscriber_id)
        pending = group.pending if group is not None else {}
        acked = {i for i in request.ack_ids if pending.pop(i, None) is not None}
        return pubsub_basic_pb2.AckResponse(acknowledged=len(acked))

    async def Unsubscribe(self, request: Any, context: Any) -> pubsub_basic_pb2.UnsubscribeResponse:
        await self.check(context, request)
        await checked(context, lambda: validate_name("subscriber_id", request.subscriber_id))
        group = self.groups.get((request.namespace, request.topic), {}).get(request.subscriber_id)
        if group is None or group.readers == 0:
            return pubsub_basic_pb2.UnsubscribeResponse(unsubscribed=False)
        for _ in range(group.readers):
            group.queue.put_nowait(None)
        return pubsub_basic_pb2.UnsubscribeResponse(unsubscribed=True)


# --- serving ---------------------------------------------------------------------------------


async def serve(
    kv: ReferenceKeyValue, pubsub: ReferencePubSub
) -> tuple[grpc.aio.Server, grpc.aio.Channel]:
    server = grpc.aio.server()
    keyvalue_basic_pb2_grpc.add_KeyValueBasicInterfaceServicer_to_server(kv, server)
    keyvalue_ttl_pb2_grpc.add_KeyValueTTLInterfaceServicer_to_server(kv, server)
    keyvalue_scan_pb2_grpc.add_KeyValueScanInterfaceServicer_to_server(kv, server)
    pubsub_basic_pb2_grpc.add_PubSubBasicInterfaceServicer_to_server(pubsub, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, grpc.aio.insecure_channel(f"127.0.0.1:{port}")


@pytest_asyncio.fixture
async def prism_channel() -> AsyncIterator[grpc.aio.Channel]:
    """The kit's one requirement: a channel to the server under test (here, the reference)."""
    server, channel = await serve(ReferenceKeyValue(), ReferencePubSub())
    yield channel
    await channel.close()
    await server.stop(None)


# --- the kit against the reference: everything must pass ------------------------------------


class TestReferenceKeyValueBasic(KeyValueBasicConformance):
    pass


class TestReferenceKeyValueTTL(KeyValueTTLConformance):
    ttl_seconds = 0.3


class TestReferenceKeyValueScan(KeyValueScanConformance):
    pass


class TestReferencePubSub(PubSubBasicConformance):
    quiet_period_seconds = 0.2


class TestCustomNamespace(KeyValueBasicConformance):
    """prism_namespace can be overridden; the server sees it on every request."""

    @pytest.fixture
    def prism_namespace(self) -> str:
        return "tenant-a"

    async def test_requests_carry_the_namespace(self, prism_channel: grpc.aio.Channel) -> None:
        stub = keyvalue_basic_pb2_grpc.KeyValueBasicInterfaceStub(prism_channel)
        await stub.Set(keyvalue_basic_pb2.SetRequest(namespace="tenant-a", key="k", value=b"a"))
        get = keyvalue_basic_pb2.GetRequest(namespace="conformance", key="k")
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.Get(get)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_base_classes_are_not_collected_and_subclasses_are_marked() -> None:
    for base in (KeyValueBasicConformance, KeyValueTTLConformance, PubSubBasicConformance):
        assert not base.__name__.startswith("Test")
        assert "pytestmark" not in vars(base)
    marks = vars(TestReferencePubSub)["pytestmark"]
    assert [mark.name for mark in marks] == ["asyncio"]


def test_loop_scope_attribute_sets_the_mark() -> None:
    class TestWide(KeyValueScanConformance):
        prism_loop_scope = "module"

    (mark,) = vars(TestWide)["pytestmark"]
    assert mark.kwargs == {"loop_scope": "module"}

    class TestOwnMark(KeyValueScanConformance):
        pytestmark = [pytest.mark.asyncio(loop_scope="session")]

    assert len(vars(TestOwnMark)["pytestmark"]) == 1


# --- broken servers: the kit must catch each one --------------------------------------------


class GetReturnsEmpty(ReferenceKeyValue):
    async def Get(self, request: Any, context: Any) -> keyvalue_basic_pb2.GetResponse:
        entry = self.live(request.namespace, request.key)
        if entry is None:
            return keyvalue_basic_pb2.GetResponse()
        return keyvalue_basic_pb2.GetResponse(value=entry.value, tags=entry.tags)


class ScanOutOfOrder(ReferenceKeyValue):
    def matching(self, namespace: str, prefix: str) -> list[str]:
        return list(reversed(super().matching(namespace, prefix)))


class IgnoresTTL(ReferenceKeyValue):
    def set_ttl(self, entry: Entry, request: Any) -> None:
        entry.expires_at = None


class CountsCharacters(ReferenceKeyValue):
    async def check_key(self, context: Any, namespace: str, key: str) -> None:
        if not key or len(key) > 1024:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "key over 1024")


class HangingGet(ReferenceKeyValue):
    async def Get(self, request: Any, context: Any) -> keyvalue_basic_pb2.GetResponse:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


class ReadyTooEarly(ReferencePubSub):
    """Announces readiness, then activates the subscription later: messages get lost."""

    def join(self, request: Any) -> Group:
        group = Group(readers=1)
        asyncio.get_running_loop().call_later(0.5, self._activate, request, group)
        return group

    def _activate(self, request: Any, group: Group) -> None:
        self.groups.setdefault((request.namespace, request.topic), {})[request.subscriber_id] = (
            group
        )


class UnsubscribeKeepsStream(ReferencePubSub):
    async def Unsubscribe(self, request: Any, context: Any) -> pubsub_basic_pb2.UnsubscribeResponse:
        group = self.groups.get((request.namespace, request.topic), {}).pop(
            request.subscriber_id, None
        )
        return pubsub_basic_pb2.UnsubscribeResponse(unsubscribed=group is not None)


class AcksOnWrite(ReferencePubSub):
    """Forgets a message once written to the stream: a client that drops it loses it."""

    remember_deliveries = False


def broken_channel_fixture(
    kv: type[ReferenceKeyValue] = ReferenceKeyValue,
    pubsub: type[ReferencePubSub] = ReferencePubSub,
) -> Any:
    @pytest_asyncio.fixture
    async def prism_channel(self: Any) -> AsyncIterator[grpc.aio.Channel]:
        server, channel = await serve(kv(), pubsub())
        yield channel
        await channel.close()
        await server.stop(None)

    return prism_channel


if os.environ.get(BROKEN_ENV) == "1":

    class TestBrokenGet(KeyValueBasicConformance):
        prism_channel = broken_channel_fixture(kv=GetReturnsEmpty)

    class TestBrokenScanOrder(KeyValueScanConformance):
        prism_channel = broken_channel_fixture(kv=ScanOutOfOrder)

    class TestBrokenTTL(KeyValueTTLConformance):
        prism_channel = broken_channel_fixture(kv=IgnoresTTL)
        ttl_seconds = 0.2
        ttl_grace_seconds = 0.3

    class TestBrokenKeyLimit(KeyValueBasicConformance):
        prism_channel = broken_channel_fixture(kv=CountsCharacters)

    class TestBrokenHang(KeyValueBasicConformance):
        prism_channel = broken_channel_fixture(kv=HangingGet)
        rpc_timeout_seconds = 0.5

    class TestBrokenReadiness(PubSubBasicConformance):
        prism_channel = broken_channel_fixture(pubsub=ReadyTooEarly)
        message_timeout_seconds = 0.3

    class TestBrokenAck(PubSubBasicConformance):
        prism_channel = broken_channel_fixture(pubsub=AcksOnWrite)
        message_timeout_seconds = 0.5

    class TestBrokenUnsubscribe(PubSubBasicConformance):
        prism_channel = broken_channel_fixture(pubsub=UnsubscribeKeepsStream)
        message_timeout_seconds = 0.5


# (class, test) -> expected outcome; every listed test must have exactly this outcome.
EXPECTED = {
    ("TestBrokenGet", "test_get_missing_key_is_not_found"): "failed",
    ("TestBrokenGet", "test_delete_returns_deleted_then_false"): "failed",
    ("TestBrokenGet", "test_set_get_round_trip"): "passed",
    ("TestBrokenScanOrder", "test_scan_prefix_returns_keys_in_order_with_values"): "failed",
    ("TestBrokenScanOrder", "test_scan_pages_by_cursor_without_gaps_or_duplicates"): "failed",
    ("TestBrokenScanOrder", "test_scan_empty_prefix_is_whole_namespace_in_order"): "failed",
    ("TestBrokenScanOrder", "test_count_by_prefix"): "passed",
    ("TestBrokenTTL", "test_set_with_ttl_expires"): "failed",
    ("TestBrokenTTL", "test_get_ttl_reports_and_decreases"): "failed",
    ("TestBrokenTTL", "test_missing_key_is_not_found[GetTTL]"): "passed",
    ("TestBrokenKeyLimit", "test_key_over_limit_is_invalid[multibyte]"): "failed",
    ("TestBrokenKeyLimit", "test_key_over_limit_is_invalid[ascii]"): "passed",
    ("TestBrokenKeyLimit", "test_key_at_limit_is_accepted"): "passed",
    ("TestBrokenHang", "test_set_get_round_trip"): "failed",
    ("TestBrokenHang", "test_exists"): "passed",
    ("TestBrokenReadiness", "test_messages_arrive_in_publish_order"): "failed",
    ("TestBrokenReadiness", "test_fan_out_to_distinct_subscribers"): "failed",
    ("TestBrokenReadiness", "test_publish_empty_topic_is_invalid"): "passed",
    ("TestBrokenUnsubscribe", "test_unsubscribe_ends_the_stream"): "failed",
    ("TestBrokenUnsubscribe", "test_messages_arrive_in_publish_order"): "passed",
    (
        "TestBrokenAck",
        "test_unacked_messages_come_back_on_resubscribe_after_abrupt_disconnect",
    ): "failed",
    ("TestBrokenAck", "test_unacked_message_is_redelivered_after_the_ack_deadline"): "failed",
    ("TestBrokenAck", "test_auto_ack_mode_does_not_redeliver"): "passed",
    ("TestBrokenAck", "test_messages_arrive_in_publish_order"): "passed",
}


def outcomes(junit: Path) -> dict[tuple[str, str], str]:
    result = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = "failed"
            elif child.tag == "skipped":
                outcome = "skipped"
        result[(case.get("classname", "").rsplit(".", 1)[-1], case.get("name", ""))] = outcome
    return result


@pytest.mark.timeout(300)
def test_kit_catches_broken_servers(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    nodes = [f"{__file__}::{cls}::{name}" for cls, name in EXPECTED]
    # Absolute paths: under Pants, sys.path holds source roots relative to the sandbox.
    pythonpath = os.pathsep.join(os.path.abspath(p) for p in sys.path if p)
    env = {**os.environ, BROKEN_ENV: "1", "PYTHONPATH": pythonpath}
    started = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable, "-m", "pytest", *nodes, "-q",
            "-p", "no:cacheprovider", "-o", "asyncio_mode=strict",
            f"--junitxml={junit}", "--rootdir", str(tmp_path),
        ],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    got = outcomes(junit)
    report = f"{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}"
    assert proc.returncode == 1, report  # 1 = some tests failed (not a usage or internal error)
    wrong = {case: got.get(case) for case, want in EXPECTED.items() if got.get(case) != want}
    assert not wrong, f"unexpected outcomes {wrong}\n{report}"
    assert elapsed < 200, f"a broken plugin must fail fast, not hang ({elapsed:.0f} s)"

"""Conformance tests for PubSubBasicInterface (Publish / Subscribe / Unsubscribe)."""

from __future__ import annotations

import time
from typing import Any

import grpc

from prism.sdk.limits import MAX_NAME_BYTES
from prism.sdk.testing._base import ConformanceBase
from prism.sdk.testing._clients import PubSubClient
from prism.sdk.testing._support import unique

INVALID = grpc.StatusCode.INVALID_ARGUMENT


class PubSubBasicConformance(ConformanceBase):
    """PubSubBasicInterface: order, payload/metadata/id delivery, fan-out, isolation, Unsubscribe.

    Readiness rule: after Subscribe, the client awaits the call's initial metadata; the server
    sends it once the subscription is active, and every message published after that must be
    delivered. Each test uses its own topics and subscriber ids.
    """

    def pubsub(self, channel: Any, namespace: str) -> PubSubClient:
        """A client (an async context manager that cancels its subscriptions on exit)."""
        return PubSubClient(
            channel, namespace, self.rpc_timeout_seconds, self.message_timeout_seconds
        )

    async def _publish_n(self, ps: PubSubClient, topic: str, count: int) -> list[str]:
        """One ordering key: the contract orders per key (a keyless topic may be spread)."""
        return [
            await ps.publish(
                topic, f"message {i}".encode(), {"seq": str(i), "topic": topic}, ordering_key="k"
            )
            for i in range(count)
        ]

    async def test_messages_arrive_in_publish_order(
        self, prism_channel: Any, prism_namespace: str
    ) -> None:
        async with self.pubsub(prism_channel, prism_namespace) as ps:
            topic = unique("topic")
            subscription = await ps.subscribe(topic, unique("sub"))
            before_ms = int(time.time() * 1000)
            ids = await self._publish_n(ps, topic, self.message_count)
            assert all(ids), "Publish returns a message id"
            assert len(set(ids)) == len(ids), "message ids are unique within the topic"
            got = await subscription.receive_n(len(ids), self.message_timeout_seconds)
            assert [m.payload for m in got] == [f"message {i}".encode() for i in range(len(ids))]
            assert [dict(m.metadata) for m in got] == [
                {"seq": str(i), "topic": topic} for i in range(len(ids))
            ]
            assert [m.message_id for m in got] == ids, "delivered ids match Publish's ids"
            assert all(m.topic == topic for m in got)
            # Publish time in Unix ms; allow an hour of clock skew between client and backend.
            assert all(abs(m.publish_time_ms - before_ms) < 3_600_000 for m in got)

    async def test_binary_payload_and_empty_metadata(
        self, prism_channel: Any, prism_namespace: str
    ) -> None:
        async with self.pubsub(prism_channel, prism_namespace) as ps:
            topic = unique("topic")
            subscription = await ps.subscribe(topic, unique("sub"))
            payloads = [bytes(range(256)), b""]
            for payload in payloads:
                await ps.publish(topic, payload)
            got = await subscription.receive_n(len(payloads), self.message_timeout_seconds)
            assert [m.payload for m in got] == payloads
            assert all(dict(m.metadata) == {} for m in got)

    async def test_fan_out_to_distinct_subscribers(
        self, prism_channel: Any, prism_namespace: str
    ) -> None:
        async with self.pubsub(prism_channel, prism_namespace) as ps:
            topic = unique("topic")
            first = await ps.subscribe(topic, unique("sub-a"))
            second = await ps.subscribe(topic, unique("sub-b"))
            ids = await self._publish_n(ps, topic, self.message_count)
            for subscription in (first, second):
                got = await subscription.receive_n(len(ids), self.message_timeout_seconds)
                assert [m.message_id for m in got] == ids, "each subscriber gets every message"

    async def test_topics_are_isolated(self, prism_channel: Any, prism_namespace: str) -> None:
        async with self.pubsub(prism_channel, prism_namespace) as ps:
            topic, other = unique("topic"), unique("other")
            subscription = await ps.subscribe(topic, unique("sub"))
            await self._publish_n(ps, other, 3)
            ids = await self._publish_n(ps, topic, 2)
            got = await subscription.receive_n(len(ids), self.message_timeout_seconds)
            assert [m.topic for m in got] == [topic, topic], "another topic's messages leaked"
            assert [m.message_id for m in got] == ids
            await subscription.expect_quiet(self.quiet_period_seconds)

    async def test_unsubscribe_ends_the_stream(
        self, prism_channel: Any, prism_namespace: str
    ) -> None:
        async with self.pubsub(prism_channel, prism_namespace) as ps:
            topic, subscriber = unique("topic"), unique("sub")
            subscription = await ps.subscribe(topic, subscriber)
            assert await ps.unsubscribe(topic, subscriber) is True
            await subscription.expect_end(self.message_timeout_seconds)
            assert await ps.unsubscribe(topic, subscriber) is False, "already unsubscribed"

    async def test_unsubscribe_unknown_returns_false(
        self, prism_channel: Any, prism_namespace: str
    ) -> None:
        async with self.pubsub(prism_channel, prism_namespace) as ps:
            assert await ps.unsubscribe(unique("topic"), unique("sub")) is False

    async def test_unsubscribe_leaves_other_subscribers(
        self, prism_channel: Any, prism_namespace: str
    ) -> None:
        async with self.pubsub(prism_channel, prism_namespace) as ps:
            topic, leaving = unique("topic"), unique("sub-leaving")
            gone = await ps.subscribe(topic, leaving)
            staying = await ps.subscribe(topic, unique("sub-staying"))
            assert await ps.unsubscribe(topic, leaving) is True
            await gone.expect_end(self.message_timeout_seconds)
            message_id = await ps.publish(topic, b"after")
            got = await staying.receive(self.message_timeout_seconds)
            assert (got.message_id, got.payload) == (message_id, b"after")

    async def test_publish_empty_topic_is_invalid(
        self, prism_channel: Any, prism_namespace: str
    ) -> None:
        async with self.pubsub(prism_channel, prism_namespace) as ps:
            await ps.expect(INVALID, ps.publish_call("", b"x"), "Publish(empty topic)")

    async def test_publish_topic_over_limit_is_invalid(
        self, prism_channel: Any, prism_namespace: str
    ) -> None:
        async with self.pubsub(prism_channel, prism_namespace) as ps:
            topic = "t" * (MAX_NAME_BYTES + 1)
            await ps.expect(INVALID, ps.publish_call(topic, b"x"), "Publish(oversized topic)")

    async def test_unsubscribe_empty_subscriber_is_invalid(
        self, prism_channel: Any, prism_namespace: str
    ) -> None:
        async with self.pubsub(prism_channel, prism_namespace) as ps:
            await ps.expect(INVALID, ps.unsubscribe(unique("topic"), ""), "Unsubscribe(empty id)")

    async def test_subscribe_empty_topic_is_invalid(
        self, prism_channel: Any, prism_namespace: str
    ) -> None:
        async with self.pubsub(prism_channel, prism_namespace) as ps:
            call = ps.subscribe_call("", unique("sub"))
            try:
                await ps.expect(INVALID, call.read(), "Subscribe(empty topic)")
            finally:
                call.cancel()

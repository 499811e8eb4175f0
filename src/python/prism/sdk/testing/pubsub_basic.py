"""Conformance tests for PubSubBasicInterface (Publish / Subscribe / Ack / Unsubscribe)."""

from __future__ import annotations

import time
from typing import Any, ClassVar

import grpc

from prism.interfaces import pubsub_basic_pb2
from prism.sdk.limits import (
    MAX_ACK_DEADLINE_SECONDS,
    MAX_MAX_OUTSTANDING,
    MAX_NAME_BYTES,
    MIN_ACK_DEADLINE_SECONDS,
)
from prism.sdk.testing._base import ConformanceBase
from prism.sdk.testing._clients import PubSubClient
from prism.sdk.testing._support import unique

INVALID = grpc.StatusCode.INVALID_ARGUMENT


class PubSubBasicConformance(ConformanceBase):
    """PubSubBasicInterface: order, payload/metadata/id delivery, fan-out, isolation, Unsubscribe,
    and at-least-once delivery with client acknowledgements.

    Readiness rule: after Subscribe, the client awaits the call's initial metadata; the server
    sends it once the subscription is active, and every message published after that must be
    delivered. Unless a test says otherwise, the client acknowledges each message it receives.
    Each test uses its own topics and subscriber ids.
    """

    counts_deliveries_across_streams: ClassVar[bool] = True
    """Whether the backend knows a message was delivered before on an earlier stream (Redis
    does, from its pending entries; Kafka does not: a redelivery after resubscribe says 1)."""

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

    # -- at-least-once: the client acknowledges what it processed ------------------------------

    async def test_unacked_messages_come_back_on_resubscribe_after_abrupt_disconnect(
        self, prism_channel: Any, prism_namespace: str
    ) -> None:
        """Read k of N, ack them, drop the stream: the same subscriber id gets the rest."""
        async with self.pubsub(prism_channel, prism_namespace) as ps:
            topic, subscriber = unique("topic"), unique("sub")
            first = await ps.subscribe(topic, subscriber, ack=False)
            ids = await self._publish_n(ps, topic, self.message_count)
            got = await first.receive_n(len(ids), self.message_timeout_seconds)
            assert [m.message_id for m in got] == ids
            assert all(m.ack_id for m in got), "CLIENT mode messages carry an ack id"
            assert all(m.delivery_attempt == 1 for m in got)
            assert await ps.ack(topic, subscriber, [m.ack_id for m in got[:2]]) == 2
            await first.close()  # abrupt: no Unsubscribe
            again = await ps.subscribe(topic, subscriber, ack=False)
            redelivered = await again.receive_n(len(ids) - 2, self.message_timeout_seconds)
            assert [m.message_id for m in redelivered] == ids[2:], "unacked ones, in order"
            if self.counts_deliveries_across_streams:
                assert all(m.delivery_attempt >= 2 for m in redelivered)
            assert await ps.ack(topic, subscriber, [m.ack_id for m in redelivered]) == len(ids) - 2
            later = await ps.publish(topic, b"later")
            assert (await again.receive(self.message_timeout_seconds)).message_id == later

    async def test_unacked_message_is_redelivered_after_the_ack_deadline(
        self, prism_channel: Any, prism_namespace: str
    ) -> None:
        async with self.pubsub(prism_channel, prism_namespace) as ps:
            topic, subscriber = unique("topic"), unique("sub")
            deadline_ms = int(MIN_ACK_DEADLINE_SECONDS * 1000)
            sub = await ps.subscribe(topic, subscriber, ack=False, ack_deadline_ms=deadline_ms)
            message_id = await ps.publish(topic, b"m")
            first = await sub.receive(self.message_timeout_seconds)
            again = await sub.receive(self.message_timeout_seconds + MIN_ACK_DEADLINE_SECONDS)
            assert (first.message_id, first.delivery_attempt) == (message_id, 1)
            assert again.message_id == message_id and again.delivery_attempt >= 2
            assert await ps.ack(topic, subscriber, [again.ack_id]) == 1
            await sub.expect_quiet(MIN_ACK_DEADLINE_SECONDS * 1.5 + self.quiet_period_seconds)

    async def test_ack_ignores_unknown_and_repeated_ids(
        self, prism_channel: Any, prism_namespace: str
    ) -> None:
        async with self.pubsub(prism_channel, prism_namespace) as ps:
            topic, subscriber = unique("topic"), unique("sub")
            assert await ps.ack(topic, subscriber, ["no-such-ack-id"]) == 0, "no stream"
            sub = await ps.subscribe(topic, subscriber, ack=False)
            await ps.publish(topic, b"m")
            got = await sub.receive(self.message_timeout_seconds)
            assert await ps.ack(topic, subscriber, ["no-such-ack-id", got.ack_id]) == 1
            assert await ps.ack(topic, subscriber, [got.ack_id]) == 0, "already acknowledged"

    async def test_auto_ack_mode_does_not_redeliver(
        self, prism_channel: Any, prism_namespace: str
    ) -> None:
        async with self.pubsub(prism_channel, prism_namespace) as ps:
            topic, subscriber = unique("topic"), unique("sub")
            auto = pubsub_basic_pb2.ACK_MODE_AUTO
            sub = await ps.subscribe(topic, subscriber, ack=False, ack_mode=auto)
            ids = await self._publish_n(ps, topic, 2)
            got = await sub.receive_n(2, self.message_timeout_seconds)
            assert [m.message_id for m in got] == ids and [m.ack_id for m in got] == ["", ""]
            assert await ps.unsubscribe(topic, subscriber) is True
            await sub.expect_end(self.message_timeout_seconds)
            again = await ps.subscribe(topic, subscriber)
            later = await ps.publish(topic, b"later")
            assert (await again.receive(self.message_timeout_seconds)).message_id == later

    async def test_max_outstanding_holds_back_messages_until_acked(
        self, prism_channel: Any, prism_namespace: str
    ) -> None:
        async with self.pubsub(prism_channel, prism_namespace) as ps:
            topic, subscriber = unique("topic"), unique("sub")
            sub = await ps.subscribe(topic, subscriber, ack=False, max_outstanding=2)
            ids = await self._publish_n(ps, topic, 4)
            got = await sub.receive_n(2, self.message_timeout_seconds)
            assert [m.message_id for m in got] == ids[:2]
            await sub.expect_quiet(self.quiet_period_seconds)
            assert await ps.ack(topic, subscriber, [got[0].ack_id]) == 1
            third = await sub.receive(self.message_timeout_seconds)
            assert third.message_id == ids[2]
            await sub.expect_quiet(self.quiet_period_seconds)

    async def test_bad_ack_options_are_invalid(
        self, prism_channel: Any, prism_namespace: str
    ) -> None:
        too_short = int(MIN_ACK_DEADLINE_SECONDS * 1000) - 1
        too_long = int(MAX_ACK_DEADLINE_SECONDS * 1000) + 1
        async with self.pubsub(prism_channel, prism_namespace) as ps:
            for options in (
                {"ack_deadline_ms": too_short},
                {"ack_deadline_ms": too_long},
                {"max_outstanding": MAX_MAX_OUTSTANDING + 1},
            ):
                call = ps.subscribe_call(unique("topic"), unique("sub"), **options)
                try:
                    error = await ps.expect(INVALID, call.read(), f"Subscribe({options})")
                finally:
                    call.cancel()
                assert next(iter(options)) in (error.details() or ""), "names the field"

    async def test_ack_without_subscriber_id_is_invalid(
        self, prism_channel: Any, prism_namespace: str
    ) -> None:
        async with self.pubsub(prism_channel, prism_namespace) as ps:
            call = ps.ack_call(unique("topic"), "", ["1"])
            await ps.expect(INVALID, call, "Ack(empty subscriber id)")

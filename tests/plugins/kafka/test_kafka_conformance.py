"""The Kafka plugin passes the SDK's PubSubBasic conformance kit against a real broker."""

from __future__ import annotations

from prism.sdk.testing import PubSubBasicConformance


class TestKafkaPubSub(PubSubBasicConformance):
    counts_deliveries_across_streams = False  # a consumer group keeps offsets, not counts

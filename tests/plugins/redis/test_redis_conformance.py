"""The Redis plugin passes the SDK conformance kit for every interface it serves."""

from __future__ import annotations

from prism.sdk.testing import (
    KeyValueBasicConformance,
    KeyValueScanConformance,
    KeyValueTTLConformance,
    PubSubBasicConformance,
)


class TestRedisKeyValue(KeyValueBasicConformance):
    pass


class TestRedisTTL(KeyValueTTLConformance):
    pass


class TestRedisScan(KeyValueScanConformance):
    pass


class TestRedisPubSub(PubSubBasicConformance):
    pass

"""The multicast registry conformance kit on each slot combination (real Redis and NATS)."""

from __future__ import annotations

import grpc
import pytest

from prism.sdk.testing import MulticastRegistryConformance


class TestMemStoreInProcess(MulticastRegistryConformance):
    @pytest.fixture
    def prism_channel(self, memstore_channel: grpc.aio.Channel) -> grpc.aio.Channel:
        return memstore_channel


class TestRedisRedis(MulticastRegistryConformance):
    @pytest.fixture
    def prism_channel(self, redis_channel: grpc.aio.Channel) -> grpc.aio.Channel:
        return redis_channel


class TestRedisNats(MulticastRegistryConformance):
    @pytest.fixture
    def prism_channel(self, redis_nats_channel: grpc.aio.Channel) -> grpc.aio.Channel:
        return redis_nats_channel

"""Pub/sub through a TLS + token gateway: the conformance kit on the Redis plugin, real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import grpc
import pytest

from prism.sdk.testing import PubSubBasicConformance
from proxy.secured import Secured, kit_channel
from services.servers import RedisServer

pytest_plugins = ["services.servers"]  # redis_shared


@pytest.fixture(scope="module")
def secured_events(
    tmp_path_factory: pytest.TempPathFactory, redis_shared: RedisServer
) -> Iterator[Secured]:
    """A secured gateway with ``events`` on the Redis plugin (pub/sub), on a real Redis."""
    events = f'  events: {{plugin: redis, settings: {{addr: "{redis_shared.addr}"}}}}\n'
    s = Secured(tmp_path_factory.mktemp("secured-events"), events)
    try:
        yield s
    finally:
        s.gateway.stop()


class TestPubSubConformanceThroughAuthGateway(PubSubBasicConformance):
    @pytest.fixture
    def prism_namespace(self) -> str:
        return "events"

    @pytest.fixture
    async def prism_channel(self, secured_events: Secured) -> AsyncIterator[grpc.aio.Channel]:
        async with kit_channel(secured_events) as channel:
            yield channel

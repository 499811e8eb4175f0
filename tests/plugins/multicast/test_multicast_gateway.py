"""`prism up --config` serving multicast registry namespaces: the conformance kit through the
gateway on MemStore+in-process and on Redis+Redis (plugin processes launched by the proxy)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import grpc
import pytest

from prism.sdk.testing import MulticastRegistryConformance
from proxy.gateway import Gateway
from services.servers import RedisServer

CONFIG = """\
namespaces:
  presence:
    plugin: multicast
  devices:
    plugin: multicast
    settings:
      registry: redis
      messaging: redis
      redis_addr: "{redis}"
"""


@pytest.fixture(scope="module")
def registry_gateway(
    redis_srv: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    text = CONFIG.format(redis=redis_srv.addr)
    gw = Gateway(text, tmp_path_factory.mktemp("e2e-multicast")).start(timeout=120.0)
    try:
        yield gw
    finally:
        code = gw.stop()
        assert code == 0, f"prism up exited with {code}:\n{gw.log_text()[-4000:]}"


@pytest.fixture
async def prism_channel(registry_gateway: Gateway) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(registry_gateway.addr) as channel:
        yield channel


class TestGatewayMemStoreRegistry(MulticastRegistryConformance):
    @pytest.fixture
    def prism_namespace(self) -> str:
        return "presence"


class TestGatewayRedisRegistry(MulticastRegistryConformance):
    @pytest.fixture
    def prism_namespace(self) -> str:
        return "devices"

"""Fixtures: `prism up` routing a namespace to MemStore, the embedded example plugin.

The gateway is the real thing: ``python -m prism.cli up --config <yaml> --port 0`` in a
subprocess (``proxy.gateway.Gateway``), which launches and supervises one plugin process per
namespace. The same checks through the gateway against real backends live in each plugin's
test folder (tests/plugins/<name>/test_<name>_gateway.py), sharing ``e2e.gateway_checks``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import grpc
import pytest

from e2e.gateway_checks import serving
from proxy.gateway import Gateway

GATEWAY_CONFIG = """\
namespaces:
  mem:
    plugin: memstore
supervision:
  health_interval: 0.5s
  restart_initial_backoff: 100ms
"""


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    yield from serving(GATEWAY_CONFIG, tmp_path_factory.mktemp("e2e-gateway"))


@pytest.fixture
async def channel(gateway: Gateway) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(gateway.addr) as ch:
        yield ch

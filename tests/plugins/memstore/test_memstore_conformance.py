"""MemStore passes the SDK conformance kit for every interface it serves."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from prism.plugins.memstore import MemStorePlugin, MemStoreSettings
from prism.sdk.testing import (
    KeyValueBasicConformance,
    KeyValueScanConformance,
    KeyValueTTLConformance,
    running_plugin,
)


@pytest.fixture
async def prism_channel() -> AsyncIterator[grpc.aio.Channel]:
    plugin = MemStorePlugin(MemStoreSettings(port=0))
    async with running_plugin(plugin) as address:
        async with grpc.aio.insecure_channel(address) as channel:
            yield channel


class TestMemStoreKeyValue(KeyValueBasicConformance):
    pass


class TestMemStoreTTL(KeyValueTTLConformance):
    pass


class TestMemStoreScan(KeyValueScanConformance):
    pass

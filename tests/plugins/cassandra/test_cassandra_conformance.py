"""The cassandra plugin passes the SDK conformance kit for every interface it serves.

Serving another interface (KeyValueTTLStore, say)? Add its conformance class here too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
import pytest_asyncio

from prism.plugins.cassandra import CassandraPlugin, CassandraSettings
from prism.sdk.config import load_settings
from prism.sdk.health import HealthStatus
from prism.sdk.testing import (
    KeyValueBasicConformance,
    KeyValueScanConformance,
    running_plugin,
)


@pytest_asyncio.fixture
async def prism_channel() -> AsyncIterator[grpc.aio.Channel]:
    plugin = CassandraPlugin(CassandraSettings(port=0))
    async with running_plugin(plugin) as address:
        async with grpc.aio.insecure_channel(address) as channel:
            yield channel


class TestCassandraKeyValue(KeyValueBasicConformance):
    pass


class TestCassandraScan(KeyValueScanConformance):
    pass


@pytest.mark.asyncio
async def test_health_pings_the_backend_and_watches_the_pool() -> None:
    plugin = CassandraPlugin(CassandraSettings(port=0))
    async with running_plugin(plugin):
        report = await plugin.health.run_checks()
    assert report.status is HealthStatus.HEALTHY, report
    assert {"cassandra", "pool"} <= set(report.checks)
    assert report.checks["cassandra"].critical and not report.checks["pool"].critical


def test_settings_use_the_plugin_env_prefix() -> None:
    environ = {"PRISM_CASSANDRA_POOL_MAX_OPEN": "3", "PRISM_CASSANDRA_ADDR": "example:1"}
    settings = load_settings(CassandraSettings, environ=environ)
    assert (settings.pool_max_open, settings.addr) == (3, "example:1")

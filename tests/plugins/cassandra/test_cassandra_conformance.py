"""The cassandra plugin passes the SDK conformance kit for every interface it serves.

Serving another interface (KeyValueTTLStore, say)? Add its conformance class here too.
"""

from __future__ import annotations

import pytest

from prism.plugins.cassandra import CassandraPlugin, CassandraSettings
from prism.sdk.config import load_settings
from prism.sdk.health import HealthStatus
from prism.sdk.testing import (
    KeyValueBasicConformance,
    KeyValueScanConformance,
    KeyValueTTLConformance,
)


class TestCassandraKeyValue(KeyValueBasicConformance):
    pass


class TestCassandraTTL(KeyValueTTLConformance):
    pass


class TestCassandraScan(KeyValueScanConformance):
    pass


@pytest.mark.asyncio
async def test_health_pings_the_backend_and_watches_the_pool(
    cassandra_plugin: tuple[CassandraPlugin, str],
) -> None:
    plugin = cassandra_plugin[0]
    report = await plugin.health.run_checks()
    assert report.status is HealthStatus.HEALTHY, report
    assert {"cassandra", "pool"} <= set(report.checks)
    assert report.checks["cassandra"].critical and not report.checks["pool"].critical


def test_settings_use_the_plugin_env_prefix() -> None:
    environ = {
        "PRISM_CASSANDRA_POOL_MAX_OPEN": "3",
        "PRISM_CASSANDRA_ADDR": "example:1",
        "PRISM_CASSANDRA_CONSISTENCY": "QUORUM",
    }
    settings = load_settings(CassandraSettings, environ=environ)
    assert (settings.pool_max_open, settings.addr, settings.consistency) == (
        3,
        "example:1",
        "QUORUM",
    )

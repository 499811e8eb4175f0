"""The Redis plugin on a real Redis Cluster (3 masters + 3 replicas): the conformance kits,
and WAIT durability through a master's SIGKILL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from plugins.redis.conftest import settings
from prism.plugins.redis import RedisPlugin
from prism.sdk.testing import (
    KeyValueBasicConformance,
    KeyValueScanConformance,
    KeyValueTTLConformance,
    PubSubBasicConformance,
    running_plugin,
)
from services.servers import RedisCluster, redis_cluster


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisCluster]:
    with redis_cluster() as c:
        yield c


@pytest.fixture
async def redis_plugin(cluster: RedisCluster) -> AsyncIterator[tuple[RedisPlugin, str]]:
    plugin = RedisPlugin(settings(addr=cluster.addrs[0], cluster=True, wait_replicas=1))
    async with running_plugin(plugin) as address:
        yield plugin, address


class TestClusterKeyValue(KeyValueBasicConformance):
    pass


class TestClusterTTL(KeyValueTTLConformance):
    pass


class TestClusterScan(KeyValueScanConformance):
    pass


class TestClusterPubSub(PubSubBasicConformance):
    pass

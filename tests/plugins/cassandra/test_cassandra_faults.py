"""Cassandra goes away under traffic and comes back: calls fail fast with UNAVAILABLE, health
turns UNHEALTHY, the plugin recovers by itself, and no acknowledged write is lost
(``plugins.faults``).

Uses the session's node, restarted in place (its JVM start is the slow part of the suite), or
a node of its own when the session's is an external one (PRISM_TEST_CASSANDRA_ADDR).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import grpc
import pytest

from plugins.cassandra.conftest import commitlog_synced, settings
from plugins.faults import frozen_then_resumed, killed_under_load
from prism.plugins.cassandra import CassandraPlugin
from prism.sdk.testing import running_plugin
from services.cassandra_servers import CassandraNode, cassandra_node

CODES = frozenset({grpc.StatusCode.UNAVAILABLE})


@pytest.fixture
def node(cassandra: CassandraNode) -> Iterator[CassandraNode]:
    """A node this test may kill: the session's, unless that one is external."""
    if cassandra.dir is not None:
        yield cassandra
        return
    with commitlog_synced(), cassandra_node() as own:
        yield own


@pytest.fixture
async def channel(node: CassandraNode) -> AsyncIterator[grpc.aio.Channel]:
    plugin = CassandraPlugin(settings(node, breaker_open_seconds=0.5, request_timeout=1.0))
    async with running_plugin(plugin) as address:
        async with grpc.aio.insecure_channel(address) as ch:
            yield ch


async def test_cassandra_killed_and_restarted(
    node: CassandraNode, channel: grpc.aio.Channel
) -> None:
    """SIGKILL: no drain, no flush, only the commit log (synced: ``commitlog_synced``)."""
    await killed_under_load(channel, node, codes=CODES, writers=4, acks=200, within=30)


async def test_cassandra_hung_then_resumed(node: CassandraNode, channel: grpc.aio.Channel) -> None:
    """Calls fail within the request timeout, then the breaker fails them at once."""
    await frozen_then_resumed(channel, node, codes=CODES, within=20)

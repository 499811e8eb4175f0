"""Fixtures: one real Cassandra node per test session (JVM start-up is slow: the test files
run in one batch) and the cassandra plugin served in-process on it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import grpc
import pytest

from prism.plugins.cassandra import CassandraPlugin, CassandraSettings
from prism.sdk.config import load_settings
from prism.sdk.testing import running_plugin
from services.cassandra_servers import CassandraNode, shared_cassandra


def settings(node: CassandraNode, **overrides: Any) -> CassandraSettings:
    """Settings for a test: no environment, any free gRPC port, ``overrides`` on top."""
    base = {"port": 0, "addr": node.addr, "keyspace": "prism_test"}
    return load_settings(CassandraSettings, environ={}, overrides={**base, **overrides})


@contextmanager
def commitlog_synced() -> Iterator[None]:
    """Nodes started inside sync their commit log before acknowledging a write (batch mode):
    with Cassandra's default (periodic) a SIGKILL loses the last acknowledged writes, and the
    fault test demands that none is lost, like the Redis one with appendfsync always."""
    old = os.environ.get("PRISM_CASSANDRA_COMMITLOG_SYNC")
    os.environ["PRISM_CASSANDRA_COMMITLOG_SYNC"] = "batch"
    try:
        yield
    finally:
        if old is None:
            del os.environ["PRISM_CASSANDRA_COMMITLOG_SYNC"]
        else:
            os.environ["PRISM_CASSANDRA_COMMITLOG_SYNC"] = old


@pytest.fixture(scope="session")
def cassandra() -> Iterator[CassandraNode]:
    """PRISM_TEST_CASSANDRA_ADDR or a node of our own; fails (never skips) if none can start."""
    with commitlog_synced(), shared_cassandra() as node:
        yield node


@pytest.fixture
async def cassandra_plugin(cassandra: CassandraNode) -> AsyncIterator[tuple[CassandraPlugin, str]]:
    plugin = CassandraPlugin(settings(cassandra))
    async with running_plugin(plugin) as address:
        yield plugin, address


@pytest.fixture
async def prism_channel(
    cassandra_plugin: tuple[CassandraPlugin, str],
) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(cassandra_plugin[1]) as channel:
        yield channel

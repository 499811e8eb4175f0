"""The Cassandra store's own design: native TTL, buckets, the Scan merge, TTL rewrites, errors.

The conformance kit checks the contract; these check how the plugin meets it on Cassandra,
reading the table with CQL where the contract cannot see (rows expired by Cassandra itself,
a namespace spread over partitions).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from cassandra import InvalidRequest, OperationTimedOut, Unavailable
from cassandra.cluster import NoHostAvailable

from plugins.cassandra.conftest import settings
from prism.plugins.cassandra import CassandraPlugin, CassandraSettings
from prism.plugins.cassandra.aio import execute
from prism.plugins.cassandra.backend import Connection, classify_cassandra
from prism.plugins.cassandra.cql import bucket_of, prefix_end
from prism.sdk.config import ConfigError, load_settings
from prism.sdk.errors import ErrorKind
from prism.sdk.testing import running_plugin
from services.cassandra_servers import CassandraNode

ROW = "SELECT key, TTL(value) AS ttl FROM prism_test.kv WHERE ns = %s AND bucket = %s AND key = %s"


@pytest.fixture
async def plugin(cassandra: CassandraNode) -> AsyncIterator[CassandraPlugin]:
    plugin = CassandraPlugin(settings(cassandra))
    async with running_plugin(plugin):
        yield plugin


def _ns() -> str:
    return f"store-{uuid.uuid4().hex[:8]}"


async def _cql(plugin: CassandraPlugin, query: str, *params: Any) -> list[Any]:
    opened = plugin.backend.factory.opened
    assert opened is not None
    return await execute(opened.session, query, params)


async def _row(plugin: CassandraPlugin, ns: str, key: str) -> list[Any]:
    return await _cql(plugin, ROW, ns, bucket_of(key, plugin.settings.buckets), key)


async def test_ttl_is_cassandras_own(plugin: CassandraPlugin) -> None:
    """A key with a TTL leaves the table itself (native TTL), not only Get's answers."""
    ns, store = _ns(), plugin.store
    await store.set(ns, "brief", b"v", 1.0, {})
    await store.set(ns, "kept", b"v", None, {})
    brief = await _row(plugin, ns, "brief")
    assert brief and 0 < brief[0].ttl <= 2, "the row carries a native TTL of ceil(1 s) + 1"
    await asyncio.sleep(1.05)
    assert await store.get(ns, "brief") is None, "gone for clients at its TTL (expires_at)"
    await asyncio.sleep(2.0)
    assert await _row(plugin, ns, "brief") == [], "Cassandra removed the row by itself"
    kept = await _row(plugin, ns, "kept")
    assert kept and kept[0].ttl is None


async def test_a_namespace_spreads_over_its_buckets(plugin: CassandraPlugin) -> None:
    ns, buckets = _ns(), plugin.settings.buckets
    for i in range(64):
        await plugin.store.set(ns, f"k{i}", b"v", None, {})
    per_bucket = [
        (
            await _cql(
                plugin,
                "SELECT COUNT(*) AS n FROM prism_test.kv WHERE ns = %s AND bucket = %s",
                ns,
                b,
            )
        )[0].n
        for b in range(buckets)
    ]
    assert sum(per_bucket) == 64
    assert sum(1 for n in per_bucket if n) >= buckets // 2, per_bucket
    assert max(per_bucket) < 64 // 2, f"one partition holds most of the namespace: {per_bucket}"


async def test_scan_merges_buckets_over_many_pages(plugin: CassandraPlugin) -> None:
    """Pages of 2-3 rows per bucket: the merge refills buckets many times, stays in order,
    skips expired rows, and stops at the limit."""
    ns, store = _ns(), plugin.store
    store.page_size, store.value_page_size = 3, 2
    keys = sorted(f"p/{i:03d}" for i in range(60))
    for key in keys:
        await store.set(ns, key, key.encode(), None, {})
    await store.set(ns, "p/0055x", b"short-lived", 0.2, {})
    await store.set(ns, "o", b"decoy", None, {})
    await store.set(ns, "q", b"decoy", None, {})
    await asyncio.sleep(0.3)

    pairs = [pair async for pair in store.scan(ns, "p/", None, False)]
    assert pairs == [(key, key.encode()) for key in keys]
    names = [key async for key, _ in store.scan(ns, "p/", "p/020", True)]
    assert names == keys[21:]
    assert [key async for key, _ in store.scan(ns, "p/", None, True, limit=7)] == keys[:7]
    assert await store.count(ns, "p/") == 60
    assert [key async for key, _ in store.scan(ns, "", None, True)] == ["o", *keys, "q"]


async def test_expire_loses_to_a_set_made_meanwhile(plugin: CassandraPlugin) -> None:
    """Expire rewrites the row it read at that row's write time + 1 us: a Set that landed
    between the read and the rewrite is newer and stays, value and (no) TTL."""
    ns, store = _ns(), plugin.store
    await store.set(ns, "k", b"old", None, {})

    async def interleaved(conn: Connection) -> None:
        old = await conn.read(ns, "k")
        await store.set(ns, "k", b"new", None, {"t": "1"})  # another caller's Set
        await conn.rewrite(ns, "k", old, 300.0)

    await plugin.backend.run(interleaved)
    got = await store.get(ns, "k")
    assert got is not None and (got.value, dict(got.tags)) == (b"new", {"t": "1"})
    assert await store.get_ttl(ns, "k") == (True, None)


async def test_expire_and_persist_keep_value_and_tags(plugin: CassandraPlugin) -> None:
    ns, store = _ns(), plugin.store
    await store.set(ns, "k", b"v", None, {"a": "1"})
    assert await store.expire(ns, "k", 300.0) is True
    exists, left = await store.get_ttl(ns, "k")
    assert exists and left is not None and 299 < left <= 300
    assert (await _row(plugin, ns, "k"))[0].ttl > 300, "the native TTL follows"
    assert await store.persist(ns, "k") is True
    assert (await _row(plugin, ns, "k"))[0].ttl is None
    got = await store.get(ns, "k")
    assert got is not None and (got.value, dict(got.tags)) == (b"v", {"a": "1"})


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (NoHostAvailable("Unable to connect to any servers", {}), ErrorKind.UNAVAILABLE),
        (OperationTimedOut("no answer"), ErrorKind.UNAVAILABLE),
        (Unavailable("not enough replicas"), ErrorKind.UNAVAILABLE),
        (InvalidRequest("bad"), ErrorKind.INVALID_ARGUMENT),
    ],
)
def test_driver_errors_are_classified(exc: Exception, kind: ErrorKind) -> None:
    err = classify_cassandra(exc)
    assert err is not None and err.kind is kind
    assert err.retryable is (kind is ErrorKind.UNAVAILABLE)


def test_other_errors_are_left_to_the_sdk() -> None:
    assert classify_cassandra(ValueError("x")) is None


@pytest.mark.parametrize(
    ("prefix", "end"),
    [("ab", "ac"), ("a\U0010ffff", "b"), ("\U0010ffff", None), ("", None), ("\ud7ff", "\ue000")],
)
def test_prefix_end(prefix: str, end: str | None) -> None:
    assert prefix_end(prefix) == end


def test_consistency_is_a_checked_setting() -> None:
    environ = {"PRISM_CASSANDRA_CONSISTENCY": "MOST"}
    with pytest.raises(ConfigError, match="PRISM_CASSANDRA_CONSISTENCY"):
        load_settings(CassandraSettings, environ=environ)

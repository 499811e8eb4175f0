"""The cassandra backend: client connections for prism.sdk.pool, and the calls the servicers make.

Driver: cassandra-driver (the established Python driver for Cassandra: token-aware routing,
node discovery, reconnection, prepared statements, protocol v5), chosen for that maturity over
an asyncio-native client. It has no asyncio API, so each request is bridged from the driver's
callbacks to the event loop (``aio.py``).

Pooling: the driver's. One ``Session`` holds a connection per node and multiplexes thousands
of concurrent requests on it, reconnecting with ``reconnect_delay``; a pool of sessions would
open a connection per in-flight request for nothing. The SDK pool still sits in front: a pooled
``Connection`` is a lease on that one session, so ``pool_max_open`` caps the requests in flight
(back-pressure: RESOURCE_EXHAUSTED after ``pool_acquire_timeout``), and the SDK's breaker,
classification and health checks wrap every call exactly as for the other plugins. Table design
and statements: ``cql.py``.

Every call borrows a lease through ``backend.run(fn)`` (prism.sdk.backend): pool sizing
(``PRISM_CASSANDRA_POOL_*``), the circuit breaker and the health checks are the SDK's, as are
validation and status codes (prism.sdk.patterns).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from cassandra import (
    ConsistencyLevel,
    CoordinationFailure,
    InvalidRequest,
    OperationTimedOut,
    ReadTimeout,
    Unavailable,
    WriteTimeout,
)
from cassandra.cluster import (
    EXEC_PROFILE_DEFAULT,
    Cluster,
    ExecutionProfile,
    NoHostAvailable,
    Session,
)
from cassandra.connection import ConnectionException
from cassandra.policies import ConstantReconnectionPolicy, DCAwareRoundRobinPolicy, TokenAwarePolicy
from cassandra.protocol import IsBootstrappingErrorMessage, OverloadedErrorMessage

from prism.plugins.cassandra.aio import execute
from prism.plugins.cassandra.cql import (
    Statements,
    bucket_of,
    expiry,
    is_live,
    now_ms,
    prefix_end,
    prepare,
    schema,
)
from prism.plugins.cassandra.settings import CassandraSettings
from prism.sdk.backend import GuardedPool
from prism.sdk.errors import InvalidArgumentError, PrismError, UnavailableError
from prism.sdk.patterns import CountByScan, Entry
from prism.sdk.pool import connect_within


@dataclass(frozen=True)
class Opened:
    """The driver's cluster handle, its session and the prepared statements."""

    cluster: Cluster
    session: Session
    cql: Statements


class Connection:
    """A lease on the shared session: the pool counts leases, the driver owns the sockets."""

    def __init__(self, opened: Opened, buckets: int) -> None:
        self.session, self.cql, self.buckets = opened.session, opened.cql, buckets

    async def ping(self) -> bool:
        # A read of the data table at the configured consistency: UNHEALTHY exactly when
        # reads cannot be served (no namespace is empty, so no row is found).
        await execute(self.session, self.cql.probe, ("", 0, ""))
        return True

    def _where(self, namespace: str, key: str) -> tuple[str, int, str]:
        return namespace, bucket_of(key, self.buckets), key

    async def read(self, namespace: str, key: str) -> Any | None:
        """The live row (value, tags, expires_at, written), or None."""
        rows = await execute(self.session, self.cql.read, self._where(namespace, key))
        return rows[0] if rows and is_live(rows[0].expires_at) else None

    async def exists(self, namespace: str, key: str) -> bool:
        rows = await execute(self.session, self.cql.probe, self._where(namespace, key))
        return bool(rows) and is_live(rows[0].expires_at)

    async def set(self, namespace: str, key: str, entry: Entry, ttl: float | None) -> bool:
        # Cassandra writes do not say what they replaced: "created" is read first (two
        # concurrent Sets of a new key may both report it; docs/plugins.md).
        existed = await self.exists(namespace, key)
        expires_at, native_ttl = expiry(ttl)
        row = (*self._where(namespace, key), entry.value, dict(entry.tags), expires_at)
        await execute(self.session, self.cql.write, (*row, native_ttl))
        return not existed

    async def rewrite(self, namespace: str, key: str, old: Any, ttl: float | None) -> None:
        """Write ``old`` again with a new TTL, timestamped 1 us after it: a Set or Delete
        that came in since the read is newer and wins (last write wins)."""
        expires_at, native_ttl = expiry(ttl)
        row = (*self._where(namespace, key), old.value, old.tags, expires_at)
        await execute(self.session, self.cql.rewrite, (*row, native_ttl, old.written + 1))

    async def delete(self, namespace: str, key: str) -> bool:
        existed = await self.exists(namespace, key)
        await execute(self.session, self.cql.delete, self._where(namespace, key))
        return existed

    async def scan_page(
        self,
        namespace: str,
        bucket: int,
        low: tuple[str, bool],
        high: str | None,
        keys_only: bool,
        size: int,
    ) -> list[Any]:
        """Up to ``size`` rows (key, expires_at[, value]) of one bucket above ``low`` (key,
        inclusive) and below ``high``, ascending; expired rows included (the caller skips)."""
        statement = self.cql.scans[not keys_only, low[1], high is not None]
        bounds = (low[0], high) if high is not None else (low[0],)
        return await execute(self.session, statement, (namespace, bucket, *bounds, size))

    async def scan_first(
        self, namespace: str, low: tuple[str, bool], high: str | None, keys_only: bool, size: int
    ) -> list[list[Any]]:
        """The first page of every bucket, fetched concurrently."""
        pages = (
            self.scan_page(namespace, b, low, high, keys_only, size) for b in range(self.buckets)
        )
        return list(await asyncio.gather(*pages))


def _cluster(settings: CassandraSettings) -> Cluster:
    host, _, port = settings.addr.rpartition(":")
    profile = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy()),
        consistency_level=ConsistencyLevel.name_to_value[settings.consistency],
        request_timeout=settings.request_timeout,
    )
    return Cluster(
        [host],
        port=int(port),
        protocol_version=5,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        connect_timeout=settings.connect_timeout,
        control_connection_timeout=settings.open_timeout,  # its metadata queries, not ours
        reconnection_policy=ConstantReconnectionPolicy(settings.reconnect_delay, None),
    )


def _open(settings: CassandraSettings) -> Opened:
    """Connect, create the schema when missing, prepare (blocking: runs in a thread)."""
    cluster = _cluster(settings)
    try:
        session = cluster.connect()
        for cql in schema(settings.keyspace, settings.replication_factor):
            session.execute(cql, timeout=settings.open_timeout)
        return Opened(cluster, session, prepare(session, settings.keyspace))
    except BaseException:
        cluster.shutdown()
        raise


class CassandraFactory:
    """prism.sdk.pool ConnectionFactory: how the pool opens, checks and closes connections."""

    def __init__(self, settings: CassandraSettings) -> None:
        self.settings = settings
        self.opened: Opened | None = None
        self._opening = asyncio.Lock()

    async def create(self) -> Connection:
        # The first lease opens the session; later ones share it (the driver reconnects it).
        async with self._opening:
            if self.opened is None:
                target = f"cassandra {self.settings.addr}"
                timeout = float(self.settings.open_timeout)
                self.opened = await connect_within(
                    self._open, _noop, timeout, target, classifiers=CLASSIFIERS
                )
        return Connection(self.opened, self.settings.buckets)

    async def _open(self) -> Opened:
        loop = asyncio.get_running_loop()
        job = loop.run_in_executor(None, _open, self.settings)
        try:
            return await asyncio.shield(job)
        except asyncio.CancelledError:  # timed out: shut the session down when it arrives
            job.add_done_callback(lambda j: _shutdown_late(loop, j))
            raise

    async def close(self, conn: Connection) -> None:
        pass  # a lease: the session is shut down with the backend (CassandraBackend.close)

    async def validate(self, conn: Connection) -> bool:
        return await conn.ping()

    async def shutdown(self) -> None:
        opened, self.opened = self.opened, None
        if opened is not None:
            await asyncio.to_thread(opened.cluster.shutdown)


async def _noop() -> None:
    pass


def _shutdown_late(loop: asyncio.AbstractEventLoop, job: asyncio.Future[Opened]) -> None:
    if not job.cancelled() and job.exception() is None:
        loop.run_in_executor(None, job.result().cluster.shutdown)


_TRANSIENT = (
    NoHostAvailable,  # every node down or refusing (the driver has marked them down)
    OperationTimedOut,  # no answer within request_timeout
    Unavailable,  # too few replicas alive for the consistency level
    ReadTimeout,
    WriteTimeout,
    CoordinationFailure,
    ConnectionException,
    OverloadedErrorMessage,
    IsBootstrappingErrorMessage,
)


def classify_cassandra(exc: BaseException) -> PrismError | None:
    """cassandra-driver's errors are not OSErrors: map them for the SDK."""
    if isinstance(exc, _TRANSIENT):
        return UnavailableError(f"cassandra unavailable: {type(exc).__name__}: {exc}")
    if isinstance(exc, InvalidRequest):
        return InvalidArgumentError(f"cassandra rejected the request: {exc}")
    return None


CLASSIFIERS = (classify_cassandra,)


class CassandraBackend(GuardedPool[Connection]):
    """The backend behind the SDK's GuardedPool: ``await backend.run(fn)`` runs ``fn(conn)`` on
    a pooled connection, through the circuit breaker."""

    def __init__(self, settings: CassandraSettings) -> None:
        self.settings, self.factory = settings, CassandraFactory(settings)
        super().__init__("cassandra", self.factory, settings, classifiers=CLASSIFIERS)

    async def start(self) -> None:
        # Open the session before serving: the first one creates the schema and prepares the
        # statements, longer than a caller waits for a lease. A node that is down now is
        # reported UNHEALTHY and tried again by the pool, as for any backend.
        with contextlib.suppress(UnavailableError):
            await self.factory.create()
        await super().start()

    async def close(self, timeout: float | None = None) -> None:
        await super().close(timeout)
        await self.factory.shutdown()


class CassandraStore(CountByScan):
    """KeyValueStore + KeyValueTTLStore + KeyValueScanStore (prism.sdk.patterns): inputs arrive
    validated.

    ``count`` walks ``scan`` (CountByScan): Cassandra counts by reading every row anyway.
    """

    page_size = 256  # keys per bucket per round trip when scanning keys only
    value_page_size = 16  # rows per bucket per round trip with values (memory: docs/plugins.md)

    def __init__(self, backend: CassandraBackend) -> None:
        self.backend = backend

    async def set(
        self,
        namespace: str,
        key: str,
        value: bytes,
        ttl_seconds: float | None,
        tags: Mapping[str, str],
    ) -> bool:
        entry = Entry(value, dict(tags))
        return await self.backend.run(lambda conn: conn.set(namespace, key, entry, ttl_seconds))

    async def get(self, namespace: str, key: str) -> Entry | None:
        row = await self.backend.run(lambda conn: conn.read(namespace, key))
        return None if row is None else Entry(row.value or b"", dict(row.tags or {}))

    async def delete(self, namespace: str, key: str) -> bool:
        return await self.backend.run(lambda conn: conn.delete(namespace, key))

    async def exists(self, namespace: str, key: str) -> bool:
        return await self.backend.run(lambda conn: conn.exists(namespace, key))

    async def expire(self, namespace: str, key: str, ttl_seconds: float) -> bool:
        async def expire(conn: Connection) -> bool:
            old = await conn.read(namespace, key)
            if old is not None:
                await conn.rewrite(namespace, key, old, ttl_seconds)
            return old is not None

        return await self.backend.run(expire)

    async def get_ttl(self, namespace: str, key: str) -> tuple[bool, float | None]:
        row = await self.backend.run(lambda conn: conn.read(namespace, key))
        if row is None:
            return False, None
        return True, (row.expires_at - now_ms()) / 1000.0 if row.expires_at else None

    async def persist(self, namespace: str, key: str) -> bool | None:
        async def persist(conn: Connection) -> bool | None:
            old = await conn.read(namespace, key)
            if old is None or not old.expires_at:
                return None if old is None else False
            await conn.rewrite(namespace, key, old, None)
            return True

        return await self.backend.run(persist)

    async def scan(
        self, namespace: str, prefix: str, after: str | None, keys_only: bool, limit: int = 0
    ) -> AsyncIterator[tuple[str, bytes]]:
        # Every bucket is read in key order, a page per round trip (no connection is held
        # while the client reads), and the buckets are merged; a bucket is read again only
        # when the merge has used up its page. No page asks for more rows than the limit.
        size = self.page_size if keys_only else self.value_page_size
        size = min(size, limit) if limit else size
        low = (after, False) if after is not None and after >= prefix else (prefix, True)
        high = prefix_end(prefix)
        if high is not None and low[0] >= high:
            return
        pages = await self.backend.run(
            lambda conn: conn.scan_first(namespace, low, high, keys_only, size)
        )
        heads = [(page[0].key, bucket, 0) for bucket, page in enumerate(pages) if page]
        heapq.heapify(heads)
        left = limit
        while heads:
            key, bucket, i = heapq.heappop(heads)
            row = pages[bucket][i]
            if is_live(row.expires_at):
                yield key, b"" if keys_only else row.value or b""
                left -= 1
                if limit and left <= 0:
                    return
            if i + 1 < len(pages[bucket]):
                heapq.heappush(heads, (pages[bucket][i + 1].key, bucket, i + 1))
            elif len(pages[bucket]) == size:  # a full page: the bucket may hold more
                pages[bucket] = await self._page(namespace, bucket, key, high, keys_only, size)
                if pages[bucket]:
                    heapq.heappush(heads, (pages[bucket][0].key, bucket, 0))

    async def _page(
        self, namespace: str, bucket: int, after: str, high: str | None, keys_only: bool, size: int
    ) -> list[Any]:
        return await self.backend.run(
            lambda conn: conn.scan_page(namespace, bucket, (after, False), high, keys_only, size)
        )

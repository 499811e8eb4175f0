"""The cassandra backend: client connections for prism.sdk.pool, and the calls the servicers make.

Out of the box the "backend" is an in-memory server in this process (``InMemoryServer``) and a
pooled "connection" is a handle on it, so the plugin works, and passes its conformance tests,
before it talks to anything. To put a real backend behind it, replace what is marked
``BACKEND CLIENT``:

1. ``Connection``: your client library's connection (a client object owning one connection).
2. ``CassandraFactory``: ``create`` opens one inside ``connect_within`` (a backend that
   does not answer becomes UNAVAILABLE, not a hang, and a half-open client is closed),
   ``close`` closes it, ``validate`` pings it (health checks and pool upkeep use it).
3. ``classify_cassandra``: map the client's transient errors to UnavailableError /
   DeadlineExceededError (OSErrors and timeouts are classified already).
4. The bodies of ``CassandraStore``'s methods: the commands that do the work.

Every call borrows a pooled connection through ``backend.run(fn)`` (prism.sdk.backend): pool
sizing (``PRISM_CASSANDRA_POOL_*``), replacing broken connections, the circuit breaker and the
health checks are the SDK's, as are validation and status codes (prism.sdk.patterns).
"""

from __future__ import annotations

import heapq
from collections.abc import AsyncIterator, Mapping

from prism.plugins.cassandra.settings import CassandraSettings
from prism.sdk.backend import GuardedPool
from prism.sdk.errors import InvalidArgumentError, PrismError
from prism.sdk.patterns import CountByScan, Entry
from prism.sdk.pool import connect_within


class InMemoryServer:
    """BACKEND CLIENT: stands in for the real server (delete it with the in-memory Connection)."""

    def __init__(self) -> None:
        self.namespaces: dict[str, dict[str, Entry]] = {}


class Connection:
    """BACKEND CLIENT: one client connection; this one runs "commands" on the in-memory server."""

    def __init__(self, server: InMemoryServer) -> None:
        self.server = server
        self.open = False

    async def connect(self) -> Connection:
        self.open = True
        return self

    async def close(self) -> None:
        self.open = False

    async def ping(self) -> bool:
        return self.open

    async def set(self, namespace: str, key: str, entry: Entry) -> bool:
        entries = self.server.namespaces.setdefault(namespace, {})
        created = key not in entries
        entries[key] = entry
        return created

    async def get(self, namespace: str, key: str) -> Entry | None:
        return self.server.namespaces.get(namespace, {}).get(key)

    async def delete(self, namespace: str, key: str) -> bool:
        entries = self.server.namespaces.get(namespace, {})
        deleted = entries.pop(key, None) is not None
        if not entries:
            self.server.namespaces.pop(namespace, None)
        return deleted

    async def scan_page(
        self, namespace: str, prefix: str, after: str | None, limit: int
    ) -> list[tuple[str, bytes]]:
        """Up to ``limit`` (key, value) pairs with ``prefix``, keys > ``after``, ascending."""
        entries = self.server.namespaces.get(namespace, {})
        keys = heapq.nsmallest(
            limit,
            (k for k in entries if k.startswith(prefix) and (after is None or k > after)),
        )
        return [(key, entries[key].value) for key in keys]


class CassandraFactory:
    """prism.sdk.pool ConnectionFactory: how the pool opens, checks and closes connections."""

    def __init__(self, settings: CassandraSettings) -> None:
        self.settings = settings
        self.server = InMemoryServer()  # BACKEND CLIENT: delete; the data lives in the backend

    async def create(self) -> Connection:
        # BACKEND CLIENT: build your client from self.settings (addr, credentials, timeouts),
        # then connect it within the timeout, e.g. for redis-py:
        #   conn = Redis(host=..., port=..., single_connection_client=True)
        #   return await connect_within(conn.initialize, conn.aclose, timeout, target)
        conn = Connection(self.server)
        target = f"cassandra {self.settings.addr}"
        return await connect_within(conn.connect, conn.close, self.settings.connect_timeout, target)

    async def close(self, conn: Connection) -> None:
        await conn.close()

    async def validate(self, conn: Connection) -> bool:
        return await conn.ping()


def classify_cassandra(exc: BaseException) -> PrismError | None:
    """BACKEND CLIENT: your client's transient errors, when they are not OSErrors, e.g.
    ``if isinstance(exc, client.ConnectionError): return UnavailableError(f"...: {exc}")``."""
    return None


CLASSIFIERS = (classify_cassandra,)


class CassandraBackend(GuardedPool[Connection]):
    """The backend behind the SDK's GuardedPool: ``await backend.run(fn)`` runs ``fn(conn)`` on
    a pooled connection, through the circuit breaker."""

    def __init__(self, settings: CassandraSettings) -> None:
        self.settings, self.factory = settings, CassandraFactory(settings)
        super().__init__("cassandra", self.factory, settings, classifiers=CLASSIFIERS)


class CassandraStore(CountByScan):
    """KeyValueStore + KeyValueScanStore (prism.sdk.patterns): inputs arrive validated.

    ``count`` walks ``scan`` (CountByScan); replace it if your backend counts cheaper.
    """

    page_size = 256  # keys per backend round trip when scanning

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
        if ttl_seconds is not None:
            # To support TTLs, use the backend's expiry (or prism.sdk.ttl.TTLManager) and
            # implement KeyValueTTLStore (expire, get_ttl, persist): the TTL service is then
            # served too; add KeyValueTTLConformance to the tests.
            raise InvalidArgumentError("cassandra does not support TTLs")
        entry = Entry(value, dict(tags))
        return await self.backend.run(lambda conn: conn.set(namespace, key, entry))

    async def get(self, namespace: str, key: str) -> Entry | None:
        return await self.backend.run(lambda conn: conn.get(namespace, key))

    async def delete(self, namespace: str, key: str) -> bool:
        return await self.backend.run(lambda conn: conn.delete(namespace, key))

    async def exists(self, namespace: str, key: str) -> bool:
        return await self.get(namespace, key) is not None

    async def scan(
        self, namespace: str, prefix: str, after: str | None, keys_only: bool, limit: int = 0
    ) -> AsyncIterator[tuple[str, bytes]]:
        # One backend call per page, so no connection is held while the client reads; no page
        # asks for more keys than the limit still needs.
        left = limit
        while True:
            size = min(self.page_size, left) if limit else self.page_size
            page = await self._page(namespace, prefix, after, size)
            for key, value in page:
                yield key, b"" if keys_only else value
            left -= len(page)
            if len(page) < size or (limit and left <= 0):
                return
            after = page[-1][0]

    async def _page(
        self, namespace: str, prefix: str, after: str | None, size: int
    ) -> list[tuple[str, bytes]]:
        return await self.backend.run(lambda conn: conn.scan_page(namespace, prefix, after, size))

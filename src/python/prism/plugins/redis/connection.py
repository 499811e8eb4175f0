"""Redis connections for the SDK pool, error classification, and the guarded call path.

A pooled connection is a ``redis.asyncio.Redis(single_connection_client=True)``: it owns one
TCP connection (so ``pool_max_open`` is the real connection count) and keeps redis-py's
command API and reply parsing. redis-py's own retries are off: a dead Redis must surface as
UNAVAILABLE at once, and the SDK breaker decides when to try again.

With ``cluster`` on, a pooled object is a ``RedisCluster`` client instead: it routes each
command by its key's slot and keeps one pool per node, but the SDK pool hands it to one caller
at a time, so it opens at most one connection per node and stays behind the same breaker and
error classification. That exclusivity is also what makes WAIT sound: WAIT counts the replicas
that have this connection's writes, so it must follow the write on the same node and
connection. A namespace is one hash tag, hence one slot and one master (see docs/plugins.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, cast

import redis.exceptions
from redis._parsers import AsyncCommandsParser
from redis.asyncio import Redis, RedisCluster
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from prism.plugins.redis.settings import RedisSettings
from prism.sdk.backend import GuardedPool
from prism.sdk.errors import DeadlineExceededError, PrismError, UnavailableError
from prism.sdk.pool import connect_within, default_is_broken


def namespace_prefix(namespace: str) -> str:
    """``prism:{ns}:``: the namespace is a cluster hash tag (one slot for its keys and index);
    ``%`` and ``}`` are escaped so no two namespaces can produce the same key."""
    escaped = namespace.replace("%", "%25").replace("}", "%7D")
    return f"prism:{{{escaped}}}:"


def classify_redis(exc: BaseException) -> PrismError | None:
    """redis-py's errors are not OSErrors: map the transient ones for the SDK."""
    if isinstance(exc, redis.exceptions.TimeoutError):
        return DeadlineExceededError(f"redis did not answer in time: {exc}")
    if isinstance(
        exc,
        redis.exceptions.ConnectionError
        | redis.exceptions.ReadOnlyError
        | redis.exceptions.ClusterDownError
        | redis.exceptions.TryAgainError
        | redis.exceptions.MasterDownError
        | redis.exceptions.RedisClusterException,
    ):
        return UnavailableError(f"redis unavailable: {exc}")
    return None


CLASSIFIERS = (classify_redis,)


def encode_fields(name: str, data: bytes, prefix: str, strings: Mapping[str, str]) -> list[Any]:
    """Hash/stream fields ``[name, data, prefix+k, v, ...]``: a payload and a string map."""
    return [name, data, *(x for k, v in strings.items() for x in (prefix + k, v))]


def decode_fields(fields: Mapping[bytes, bytes], prefix: bytes) -> dict[str, str]:
    """The string map :func:`encode_fields` stored under ``prefix``."""
    n = len(prefix)
    return {k[n:].decode(): v.decode() for k, v in fields.items() if k.startswith(prefix)}


class _SharedCommandTable(AsyncCommandsParser):
    """A cluster client's key finder that fetches COMMAND's table once per factory.

    redis-py fetches the whole table (hundreds of KB) in every client's ``initialize`` and
    again after every connection error; on a loaded host that took longer than
    ``connect_timeout``, so Subscribe (which opens its own client) failed UNAVAILABLE.
    """

    def __init__(self, table: dict[str, Any]) -> None:
        super().__init__()
        self._table = table

    async def initialize(self, node: ClusterNode | None = None) -> None:
        if self._table:
            if node is not None:
                self.node = node  # this client's node, for COMMAND GETKEYS
            self.commands = self._table
            return
        await super().initialize(node)
        self._table.update(self.commands)


async def close_cluster(cluster: RedisCluster) -> None:
    """Close a cluster client's connections to every node, whatever state it is in.

    redis-py's ``RedisCluster.aclose()`` does nothing once an error has flagged the client for
    re-initialisation, and those are exactly the clients the pool discards after a node died:
    their sockets to every live node stayed open until the plugin restarted, and each socket's
    reader callback (holding the request context it was opened in, hence that call's
    exception chain and another discarded client) kept memory alive with it. The client's
    node managers close unconditionally, so they are closed here too.
    """
    await cluster.aclose()
    await cluster.nodes_manager.aclose()
    await cluster.nodes_manager.aclose("startup_nodes")


class _ClusterClient(RedisCluster):
    """A cluster client that closes the connections it read the slot map over.

    redis-py asks a random startup node for CLUSTER SLOTS at every re-read (after each node
    failure) and keeps that connection open beside the data connections, so after every
    failover each pooled client held connections to more nodes. Here the startup nodes are
    only ever used for that read (``dynamic_startup_nodes`` off keeps them apart from the data
    nodes; every node seen is added as one), so they are disconnected once it is done.
    """

    async def initialize(self, *args: Any, **kwargs: Any) -> RedisCluster:
        await super().initialize(*args, **kwargs)
        manager = self.nodes_manager
        for name, node in manager.nodes_cache.items():  # any node may answer the next read
            if name not in manager.startup_nodes:
                startup = ClusterNode(node.host, node.port, **manager.connection_kwargs)
                manager.startup_nodes[name] = startup
        for node in manager.startup_nodes.values():
            await node.disconnect()
        return self


class RedisFactory:
    """prism.sdk.pool ConnectionFactory of single-connection clients."""

    def __init__(self, settings: RedisSettings) -> None:
        self.settings = settings
        # Cluster nodes seen so far: a new client starts from all of them, so it still finds
        # the cluster when the node of ``addr`` is the one that died.
        self.known_nodes = [settings.addr]
        self.command_table: dict[str, Any] = {}

    async def create(self, *, blocking: bool = False) -> Redis:
        """A connected client (TCP, HELLO/AUTH/SELECT done within ``connect_timeout``); a
        ``blocking`` one (for XREADGROUP BLOCK) waits ``subscribe_block`` longer for replies."""
        s = self.settings
        host, _, port = s.addr.rpartition(":")
        wait = s.wait_timeout if s.wait_replicas else 0.0
        if s.cluster:
            nodes = [
                ClusterNode(h, int(p)) for h, _, p in (a.rpartition(":") for a in self.known_nodes)
            ]
            cluster = _ClusterClient(
                startup_nodes=nodes,
                dynamic_startup_nodes=False,
                password=s.password.get_secret_value() if s.password else None,
                socket_connect_timeout=s.connect_timeout,
                socket_timeout=s.command_timeout + wait + (s.subscribe_block if blocking else 0.0),
                retry=Retry(NoBackoff(), 0),
                ssl=s.tls,
                ssl_ca_certs=s.tls_ca_file,
            )
            cluster.commands_parser = _SharedCommandTable(self.command_table)
            target = f"redis cluster via {s.addr}"
            await connect_within(
                cluster.initialize, lambda: close_cluster(cluster), s.connect_timeout, target
            )
            self.known_nodes = [f"{n.host}:{n.port}" for n in cluster.get_nodes()]
            return cast(Redis, cluster)  # same command API; WAIT is routed in Backend.durable
        conn = Redis(
            host=host,
            port=int(port),
            db=s.db,
            password=s.password.get_secret_value() if s.password else None,
            socket_connect_timeout=s.connect_timeout,
            socket_timeout=s.command_timeout + wait + (s.subscribe_block if blocking else 0.0),
            retry=Retry(NoBackoff(), 0),
            single_connection_client=True,
            ssl=s.tls,
            ssl_ca_certs=s.tls_ca_file,
        )
        target = f"redis {s.addr}"
        return await connect_within(conn.initialize, conn.aclose, s.connect_timeout, target)

    async def close(self, conn: Redis) -> None:
        """Close every connection of ``conn``: the only way the plugin closes a client."""
        if isinstance(conn, RedisCluster):
            await close_cluster(conn)
        else:
            await conn.aclose()

    async def validate(self, conn: Redis) -> bool:
        return bool(await conn.ping())


class Lua:
    """A server-side script run by SHA (EVALSHA), sent in full only after NOSCRIPT."""

    def __init__(self, source: str) -> None:
        self.source, self.sha = source, hashlib.sha1(source.encode()).hexdigest()

    async def __call__(self, conn: Redis, keys: Sequence[str], args: Sequence[Any]) -> Any:
        try:
            return await conn.evalsha(self.sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            return await conn.eval(self.source, len(keys), *keys, *args)


class _NotReplicatedError(UnavailableError):
    """WAIT saw too few replicas: the backend cannot make writes durable now, but the
    connection that asked is sound."""


# What a cluster client recovers from by itself: redis-py drops the failed node's connections
# and re-reads the slot map (CLUSTER SLOTS) before its next command.
_CLUSTER_HEALS = (
    redis.exceptions.ConnectionError
    | redis.exceptions.ClusterDownError
    | redis.exceptions.RedisClusterException
)


class Backend(GuardedPool[Redis]):
    """Redis behind the SDK's GuardedPool (pool + breaker): every contract call goes through
    ``run``, ``command`` or ``script``."""

    def __init__(self, settings: RedisSettings) -> None:
        self.settings, self.factory = settings, RedisFactory(settings)
        super().__init__(
            "redis", self.factory, settings, classifiers=CLASSIFIERS, is_broken=self._is_broken
        )

    def _is_broken(self, exc: BaseException) -> bool:
        """Whether an error discards the pooled client. Not after a WAIT shortfall, nor a
        cluster client after a node failure it heals from: rebuilding every pooled client on
        every failed call of a failover (a new slot map and connections each time) only made
        the failover slower and the clients queue for a connection."""
        if isinstance(exc, _NotReplicatedError):
            return False
        if self.settings.cluster and isinstance(exc, _CLUSTER_HEALS):
            return False
        return default_is_broken(exc, CLASSIFIERS)

    async def command(self, *args: Any, write: bool = False) -> Any:
        """One command (its key first), its reply parsed by redis-py; a ``write`` is made
        durable per ``wait_replicas``."""

        async def call(conn: Redis) -> Any:
            result = await cast(Any, conn).execute_command(*args)
            if write:
                await self.durable(conn, str(args[1]))
            return result

        return await self.run(call)

    async def script(
        self, lua: Lua, keys: Sequence[str], args: Sequence[Any], *, write: bool = False
    ) -> Any:
        async def call(conn: Redis) -> Any:
            result = await lua(conn, keys, args)
            if write:
                await self.durable(conn, keys[0])
            return result

        return await self.run(call)

    async def durable(self, conn: Redis, key: str) -> None:
        """WAIT for ``wait_replicas`` replicas of ``key``'s master, on the connection that
        wrote it; fewer in time is UNAVAILABLE (the write is done on the master regardless)."""
        s = self.settings
        if not s.wait_replicas:
            return
        ms = int(s.wait_timeout * 1000)
        if isinstance(conn, RedisCluster):
            node = conn.get_node_from_key(key)
            acked = await conn.execute_command("WAIT", s.wait_replicas, ms, target_nodes=node)
        else:
            acked = await cast(Any, conn).execute_command("WAIT", s.wait_replicas, ms)
        if int(acked) < s.wait_replicas:
            raise _NotReplicatedError(
                f"write reached {acked} of {s.wait_replicas} replicas within {s.wait_timeout}s;"
                " it is on the master and may survive or be lost"
            )

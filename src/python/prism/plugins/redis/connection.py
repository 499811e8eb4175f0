"""Redis connections for the SDK pool, error classification, and the guarded call path.

A pooled connection is a ``redis.asyncio.Redis(single_connection_client=True)``: it owns one
TCP connection (so ``pool_max_open`` is the real connection count) and keeps redis-py's
command API and reply parsing. redis-py's own retries are off: a dead Redis must surface as
UNAVAILABLE at once, and the SDK breaker decides when to try again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, cast

import redis.exceptions
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from prism.plugins.redis.settings import RedisSettings
from prism.sdk.backend import GuardedPool
from prism.sdk.errors import DeadlineExceededError, PrismError, UnavailableError
from prism.sdk.pool import connect_within


def namespace_prefix(namespace: str) -> str:
    """``prism:{ns}:``: the namespace is a cluster hash tag (one slot for its keys and index);
    ``%`` and ``}`` are escaped so no two namespaces can produce the same key."""
    escaped = namespace.replace("%", "%25").replace("}", "%7D")
    return f"prism:{{{escaped}}}:"


def classify_redis(exc: BaseException) -> PrismError | None:
    """redis-py's errors are not OSErrors: map the transient ones for the SDK."""
    if isinstance(exc, redis.exceptions.TimeoutError):
        return DeadlineExceededError(f"redis did not answer in time: {exc}")
    if isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.ReadOnlyError):
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


class RedisFactory:
    """prism.sdk.pool ConnectionFactory of single-connection clients."""

    def __init__(self, settings: RedisSettings) -> None:
        self.settings = settings

    async def create(self, *, blocking: bool = False) -> Redis:
        """A connected client (TCP, HELLO/AUTH/SELECT done within ``connect_timeout``); a
        ``blocking`` one (for XREADGROUP BLOCK) waits ``subscribe_block`` longer for replies."""
        s = self.settings
        host, _, port = s.addr.rpartition(":")
        conn = Redis(
            host=host,
            port=int(port),
            db=s.db,
            password=s.password.get_secret_value() if s.password else None,
            socket_connect_timeout=s.connect_timeout,
            socket_timeout=s.command_timeout + (s.subscribe_block if blocking else 0.0),
            retry=Retry(NoBackoff(), 0),
            single_connection_client=True,
            ssl=s.tls,
            ssl_ca_certs=s.tls_ca_file,
        )
        target = f"redis {s.addr}"
        return await connect_within(conn.initialize, conn.aclose, s.connect_timeout, target)

    async def close(self, conn: Redis) -> None:
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


class Backend(GuardedPool[Redis]):
    """Redis behind the SDK's GuardedPool (pool + breaker): every contract call goes through
    ``run``, ``command`` or ``script``."""

    def __init__(self, settings: RedisSettings) -> None:
        self.settings, self.factory = settings, RedisFactory(settings)
        super().__init__("redis", self.factory, settings, classifiers=CLASSIFIERS)

    async def command(self, *args: Any) -> Any:
        """One command, its reply parsed by redis-py."""
        return await self.run(lambda conn: cast(Any, conn).execute_command(*args))

    async def script(self, lua: Lua, keys: Sequence[str], args: Sequence[Any]) -> Any:
        return await self.run(lambda conn: lua(conn, keys, args))

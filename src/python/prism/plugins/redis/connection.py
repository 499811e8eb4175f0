"""Redis connections for the SDK pool, error classification, and the guarded call path.

A pooled connection is a ``redis.asyncio.Redis(single_connection_client=True)``: it owns one
TCP connection (so ``pool_max_open`` is the real connection count) and keeps redis-py's
command API and reply parsing. redis-py's own retries are off: a dead Redis must surface as
UNAVAILABLE at once, and the SDK breaker decides when to try again.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar, cast

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError

from prism.sdk.errors import Classifier, DeadlineExceededError, PrismError, UnavailableError
from prism.sdk.pool import Pool, PoolConfig
from prism.sdk.resilience import CircuitBreaker

T = TypeVar("T")
Conn = aioredis.Redis


def namespace_prefix(namespace: str) -> str:
    """``prism:{ns}:``: the namespace is a cluster hash tag (one slot for its keys and index);
    ``%`` and ``}`` are escaped so no two namespaces can produce the same key."""
    escaped = namespace.replace("%", "%25").replace("}", "%7D")
    return f"prism:{{{escaped}}}:"


def classify_redis(exc: BaseException) -> PrismError | None:
    """redis-py's errors are not OSErrors: map the transient ones for the SDK."""
    if isinstance(exc, RedisTimeoutError):
        return DeadlineExceededError(f"redis did not answer in time: {exc}")
    if isinstance(exc, RedisConnectionError | ReadOnlyError):
        return UnavailableError(f"redis unavailable: {exc}")
    return None


CLASSIFIERS: Sequence[Classifier] = (classify_redis,)


def encode_fields(name: str, data: bytes, prefix: str, strings: Mapping[str, str]) -> list[Any]:
    """Hash/stream fields ``[name, data, prefix+k, v, ...]``: a payload and a string map."""
    return [name, data, *(x for k, v in strings.items() for x in (prefix + k, v))]


def decode_fields(fields: Mapping[bytes, bytes], prefix: bytes) -> dict[str, str]:
    """The string map :func:`encode_fields` stored under ``prefix``."""
    n = len(prefix)
    return {k[n:].decode(): v.decode() for k, v in fields.items() if k[:n] == prefix}


@contextmanager
def redis_errors() -> Iterator[None]:
    """Raise transient redis errors as PrismErrors, so pool, breaker and caller see the kind."""
    try:
        yield
    except Exception as exc:
        err = classify_redis(exc)
        if err is None:
            raise
        raise err from exc


class RedisFactory:
    """prism.sdk.pool ConnectionFactory of single-connection clients."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings

    async def connect(self, read_timeout: float) -> Conn:
        """A connected client (TCP, HELLO/AUTH/SELECT done within ``connect_timeout``)."""
        s = self.settings
        host, _, port = s.addr.rpartition(":")
        tls = {"ssl": True, "ssl_ca_certs": s.tls_ca_file} if s.tls else {}
        conn = aioredis.Redis(
            host=host,
            port=int(port),
            db=s.db,
            password=s.password.get_secret_value() if s.password else None,
            socket_connect_timeout=s.connect_timeout,
            socket_timeout=read_timeout,
            retry=Retry(NoBackoff(), 0),
            single_connection_client=True,
            **tls,
        )
        try:
            with redis_errors():
                async with asyncio.timeout(s.connect_timeout):
                    return await conn.initialize()
        except BaseException as exc:
            await conn.aclose()
            if isinstance(exc, TimeoutError):
                msg = f"redis {s.addr}: no connection within {s.connect_timeout}s"
                raise UnavailableError(msg) from exc
            raise

    async def create(self) -> Conn:
        return await self.connect(self.settings.command_timeout)

    async def close(self, conn: Conn) -> None:
        await conn.aclose()

    async def validate(self, conn: Conn) -> bool:
        return bool(await conn.ping())


class Lua:
    """A server-side script run by SHA (EVALSHA), sent in full only after NOSCRIPT."""

    def __init__(self, source: str) -> None:
        self.source, self.sha = source, hashlib.sha1(source.encode()).hexdigest()

    async def __call__(self, conn: Conn, keys: Sequence[str], args: Sequence[Any]) -> Any:
        try:
            return await conn.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await conn.eval(self.source, len(keys), *keys, *args)


class Backend:
    """The pool and the circuit breaker: every contract call to Redis goes through ``run``."""

    def __init__(self, settings: Any) -> None:
        self.settings, self.factory = settings, RedisFactory(settings)
        config = PoolConfig(
            min_idle=settings.pool_min_idle,
            max_open=settings.pool_max_open,
            acquire_timeout=settings.pool_acquire_timeout,
        )
        self.pool: Pool[Conn] = Pool(self.factory, config, name="redis", classifiers=CLASSIFIERS)
        self.breaker = CircuitBreaker(
            "redis", open_seconds=settings.breaker_open_seconds, classifiers=CLASSIFIERS
        )

    async def run(self, fn: Callable[[Conn], Awaitable[T]]) -> T:
        """``fn(conn)`` on a pooled connection, behind the breaker; raises redis errors as
        PrismErrors (pool and breaker classify them themselves, through ``CLASSIFIERS``)."""

        async def attempt() -> T:
            async with self.pool.acquire() as conn:
                return await fn(conn)

        with redis_errors():
            return await self.breaker.call(attempt)

    async def command(self, *args: Any) -> Any:
        """One command, its reply parsed by redis-py."""
        return await self.run(lambda conn: cast(Any, conn).execute_command(*args))

    async def script(self, lua: Lua, keys: Sequence[str], args: Sequence[Any]) -> Any:
        return await self.run(lambda conn: lua(conn, keys, args))

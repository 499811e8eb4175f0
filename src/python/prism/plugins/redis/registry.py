"""RedisRegistry: the multicast registry slot in Redis, shared by every plugin process.

Layout (one cluster hash slot per namespace, see ``namespace_prefix``):

- ``r:h:<identity>``: a hash per registration (``m:<key>`` metadata fields, ``e`` its expiry
  in Unix ms), with a native PEXPIRE, so an expired registration is gone for every reader.
- ``r:i``: the namespace's index, a sorted set of identities (all score 0) paged by
  ZRANGEBYLEX, so enumeration walks Redis (not a process-local map) in stable pages.
- ``r:x``: identity -> expiry ms, for cleaning: each Register first drops up to
  ``CLEAN_BATCH`` index entries whose hash expired, and a page that finds a hash gone drops
  its entry too, so the index stays bounded by ``max_registrations`` live entries.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from redis.asyncio import Redis

from prism.plugins.redis.connection import Backend, Lua, decode_fields, namespace_prefix
from prism.sdk.errors import ResourceExhaustedError
from prism.sdk.patterns import Filter, Registered

PAGE = 500
CLEAN_BATCH = 1000
MAX_REGISTRATIONS = 10_000_000

_PUT = Lua(
    """
local now, expire_ms, ttl_ms, limit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local identity = ARGV[5]
local gone = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, ARGV[6])
if #gone > 0 then
  redis.call('ZREM', KEYS[2], unpack(gone))
  redis.call('ZREM', KEYS[3], unpack(gone))
end
local created = redis.call('EXISTS', KEYS[1]) == 0
if created and redis.call('ZSCORE', KEYS[2], identity) == false
   and redis.call('ZCARD', KEYS[2]) >= limit then
  return -1
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'e', expire_ms, unpack(ARGV, 7))
redis.call('ZADD', KEYS[2], 0, identity)
if ttl_ms > 0 then
  redis.call('PEXPIRE', KEYS[1], ttl_ms)
  redis.call('ZADD', KEYS[3], expire_ms, identity)
else
  redis.call('ZREM', KEYS[3], identity)
end
if created then return 1 end
return 0
"""
)

_DELETE = Lua(
    """
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return redis.call('DEL', KEYS[1])
"""
)


def _registered(identity: str, fields: Mapping[bytes, bytes]) -> Registered:
    return Registered(identity, decode_fields(fields, b"m:"), int(fields.get(b"e", b"0")))


class RedisRegistry:
    """Implements prism.sdk.patterns.RegistrySlot over a :class:`Backend` (pool + breaker)."""

    def __init__(self, backend: Backend, max_registrations: int = MAX_REGISTRATIONS) -> None:
        self.backend, self.max_registrations = backend, max_registrations

    @staticmethod
    def _keys(namespace: str, identity: str) -> list[str]:
        base = f"{namespace_prefix(namespace)}r:"
        return [f"{base}h:{identity}", f"{base}i", f"{base}x"]

    async def put(
        self, namespace: str, identity: str, metadata: Mapping[str, str], ttl_seconds: float
    ) -> bool:
        ttl_ms = max(1, round(ttl_seconds * 1000)) if ttl_seconds else 0
        now_ms = int(time.time() * 1000)
        expire_ms = now_ms + ttl_ms if ttl_ms else 0
        fields = [x for k, v in metadata.items() for x in ("m:" + k, v)]
        args = [now_ms, expire_ms, ttl_ms, self.max_registrations, identity, CLEAN_BATCH, *fields]
        created = await self.backend.script(_PUT, self._keys(namespace, identity), args)
        if created == -1:
            raise ResourceExhaustedError(
                f"namespace {namespace!r} has {self.max_registrations} registrations, the limit"
            )
        return bool(created)

    async def delete(self, namespace: str, identity: str) -> bool:
        removed = await self.backend.script(_DELETE, self._keys(namespace, identity), [identity])
        return bool(removed)

    async def get(self, namespace: str, identity: str) -> Registered | None:
        fields = await self.backend.command("HGETALL", self._keys(namespace, identity)[0])
        return _registered(identity, fields) if fields else None

    async def scan(self, namespace: str, where: Filter) -> AsyncIterator[Registered]:
        start = "-"
        while True:

            async def read(conn: Redis, after: str = start) -> tuple[list[Registered], str | None]:
                return await self._page(conn, namespace, after)

            page = await self.backend.run(read)
            for entry in page[0]:
                if where.matches(entry.metadata):
                    yield entry
            if page[1] is None:
                return
            start = "(" + page[1]

    async def _page(
        self, conn: Redis, namespace: str, start: str
    ) -> tuple[list[Registered], str | None]:
        """One index page and its hashes (one round trip for the hashes); drops stale entries."""
        _, index, expiry = self._keys(namespace, "")
        raw: Any = await conn.zrangebylex(index, start, "+", start=0, num=PAGE)
        identities = [m.decode() for m in raw]
        if not identities:
            return [], None
        pipe = conn.pipeline(transaction=False)
        for identity in identities:
            pipe.hgetall(self._keys(namespace, identity)[0])
        hashes = await pipe.execute()
        live, stale = [], []
        for identity, fields in zip(identities, hashes, strict=True):
            if fields:
                live.append(_registered(identity, fields))
            else:
                stale.append(identity)
        if stale:
            await conn.zrem(index, *stale)
            await conn.zrem(expiry, *stale)
        return live, (identities[-1] if len(identities) == PAGE else None)

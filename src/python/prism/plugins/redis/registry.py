"""RedisRegistry: the multicast registry slot in Redis, shared by every plugin process.

Layout (one cluster hash slot per namespace, see ``namespace_prefix``):

- ``r:h:<identity>``: a hash per registration (``m:<key>`` metadata fields, ``e`` its expiry
  in Unix ms), with a native PEXPIRE, so an expired registration is gone for every reader.
- ``r:i``: the namespace's index, a sorted set of identities (all score 0) paged by
  ZRANGEBYLEX, so enumeration walks Redis (not a process-local map) in stable pages.
- ``r:v:<len(key)>:<key>=<value>``: the metadata index, one such sorted set per (key, value)
  pair, holding the identities registered with it. A filter with an EQ or IN condition reads
  only the sets of its values (:meth:`Filter.index_terms`), not the whole registry; a
  Multicast the index answers completely reads only those sets and ``r:x`` (``identities``),
  no registration hash.
- ``r:k``: identity -> the pair sets it is in (msgpack), kept past the hash's expiry, so the
  pairs of an expired registration can still be removed.
- ``r:x``: identity -> expiry ms, for cleaning: each Register first forgets up to
  ``CLEAN_BATCH`` registrations whose hash expired (index, pair sets, ``r:k``), and a page
  that finds a hash gone forgets that identity too, so the indexes stay bounded by the live
  registrations.

A page of a scan is one script call that returns its registrations as one JSON string:
redis-py's pure-Python reply parser costs per reply element, and a page of hashes read as
replies (a pipeline of HGETALLs) was most of an Enumerate's time.

Register and Unregister are one Lua script each (one round trip, all of it atomic); a script
touches pair sets named in ``r:k`` besides its declared keys, all in the namespace's slot.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

from prism.plugins.redis.connection import Backend, Lua, decode_fields, namespace_prefix
from prism.sdk.errors import ResourceExhaustedError
from prism.sdk.patterns import Filter, Registered

PAGE = 500
CLEAN_BATCH = 1000
MAX_REGISTRATIONS = 10_000_000

# KEYS[1] the hash, [2] r:i, [3] r:x, [4] r:k; shared by both scripts.
_UNPAIR = """
local function unpair(id)
  local rec = redis.call('HGET', KEYS[4], id)
  if rec then
    for _, key in ipairs(cmsgpack.unpack(rec)) do redis.call('ZREM', key, id) end
    redis.call('HDEL', KEYS[4], id)
  end
end
"""

# KEYS[5..]: the pair sets of the new metadata.
_PUT = Lua(
    _UNPAIR
    + """
local now, expire_ms, ttl_ms, limit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local identity = ARGV[5]
local gone = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, ARGV[6])
if #gone > 0 then
  for _, id in ipairs(gone) do unpair(id) end
  redis.call('ZREM', KEYS[2], unpack(gone))
  redis.call('ZREM', KEYS[3], unpack(gone))
end
local created = redis.call('EXISTS', KEYS[1]) == 0
if created and redis.call('ZSCORE', KEYS[2], identity) == false
   and redis.call('ZCARD', KEYS[2]) >= limit then
  return -1
end
unpair(identity)
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'e', expire_ms, unpack(ARGV, 7))
redis.call('ZADD', KEYS[2], 0, identity)
if #KEYS > 4 then
  local sets = {}
  for i = 5, #KEYS do
    redis.call('ZADD', KEYS[i], 0, identity)
    sets[#sets + 1] = KEYS[i]
  end
  redis.call('HSET', KEYS[4], identity, cmsgpack.pack(sets))
end
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
    _UNPAIR
    + """
unpair(ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return redis.call('DEL', KEYS[1])
"""
)

# KEYS[1] an index set (r:i or a pair set), KEYS[2..4] r:i, r:x, r:k. ARGV: page start
# (ZRANGEBYLEX), page size, the prefix of the namespace's hash keys. One page of the index
# with each live registration's hash, as one JSON string (one reply to parse, not one per
# field); a member whose hash is gone (expired) is forgotten on the way (index, pair sets).
_SCAN_PAGE = Lua(
    _UNPAIR
    + """
local ids = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], '+', 'LIMIT', 0, tonumber(ARGV[2]))
local live = {}
for _, id in ipairs(ids) do
  local fields = redis.call('HGETALL', ARGV[3] .. id)
  if #fields > 0 then
    live[#live + 1] = {id, fields}
  else
    unpair(id)
    redis.call('ZREM', KEYS[2], id)
    redis.call('ZREM', KEYS[3], id)
  end
end
if #live == 0 then return {#ids, ids[#ids] or '', '[]'} end
return {#ids, ids[#ids], cjson.encode(live)}
"""
)

# KEYS[1] a pair set, [2] r:x. ARGV: page start (ZRANGEBYLEX), page size, now in Unix ms.
# One page of the pair set without its expired members: {members read, last read, live...}.
_LIVE_PAGE = Lua(
    """
local ids = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], '+', 'LIMIT', 0, tonumber(ARGV[2]))
local out = {#ids, ids[#ids] or ''}
if #ids == 0 then return out end
local expiry = redis.call('ZMSCORE', KEYS[2], unpack(ids))
local now = tonumber(ARGV[3])
for i, id in ipairs(ids) do
  if not expiry[i] or tonumber(expiry[i]) > now then out[#out + 1] = id end
end
return out
"""
)


def _registered(identity: str, fields: Mapping[bytes, bytes]) -> Registered:
    return Registered(identity, decode_fields(fields, b"m:"), int(fields.get(b"e", b"0")))


def _from_flat(identity: str, flat: Sequence[str]) -> Registered:
    """A registration from HGETALL's flat field/value list (as _SCAN_PAGE returns it)."""
    fields = dict(zip(flat[::2], flat[1::2], strict=True))
    metadata = {k[2:]: v for k, v in fields.items() if k.startswith("m:")}
    return Registered(identity, metadata, int(fields.get("e", "0")))


def _now_ms() -> list[Any]:
    """_LIVE_PAGE's argument: the time now in Unix ms, read again for every page."""
    return [int(time.time() * 1000)]


class RedisRegistry:
    """Implements prism.sdk.patterns.RegistrySlot over a :class:`Backend` (pool + breaker)."""

    def __init__(self, backend: Backend, max_registrations: int = MAX_REGISTRATIONS) -> None:
        self.backend, self.max_registrations = backend, max_registrations

    @staticmethod
    def _keys(namespace: str, identity: str) -> list[str]:
        base = f"{namespace_prefix(namespace)}r:"
        return [f"{base}h:{identity}", f"{base}i", f"{base}x", f"{base}k"]

    @staticmethod
    def pair_key(namespace: str, key: str, value: str) -> str:
        """The metadata index set of ``key == value`` (the key's length keeps it unambiguous)."""
        size = len(key.encode("utf-8", "surrogatepass"))
        return f"{namespace_prefix(namespace)}r:v:{size}:{key}={value}"

    async def put(
        self, namespace: str, identity: str, metadata: Mapping[str, str], ttl_seconds: float
    ) -> bool:
        ttl_ms = max(1, round(ttl_seconds * 1000)) if ttl_seconds else 0
        now_ms = int(time.time() * 1000)
        expire_ms = now_ms + ttl_ms if ttl_ms else 0
        fields = [x for k, v in metadata.items() for x in ("m:" + k, v)]
        pairs = [self.pair_key(namespace, k, v) for k, v in metadata.items()]
        args = [now_ms, expire_ms, ttl_ms, self.max_registrations, identity, CLEAN_BATCH, *fields]
        keys = [*self._keys(namespace, identity), *pairs]
        created = await self.backend.script(_PUT, keys, args)
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
        """Pages of the pair sets of ``where``'s index terms, else of the whole index."""
        terms = where.index_terms()
        if terms is None:
            sets = [self._keys(namespace, "")[1]]
        else:
            sets = [self.pair_key(namespace, terms[0], value) for value in terms[1]]
        for index in sets:
            async for entry in self._walk(namespace, index):
                if where.matches(entry.metadata):
                    yield entry

    async def identities(
        self, namespace: str, key: str, values: Sequence[str]
    ) -> AsyncIterator[str]:
        """The pair sets of ``values``, a page per round trip, expired members left out (by
        their expiry in ``r:x``; forgetting them is left to Register and to scans)."""
        expiries = self._keys(namespace, "")[2]
        for value in values:
            index = self.pair_key(namespace, key, value)
            async for page in self._pages(_LIVE_PAGE, [index, expiries], _now_ms):
                for identity in page[2:]:
                    yield identity.decode()

    async def _walk(self, namespace: str, index: str) -> AsyncIterator[Registered]:
        hashes, *others = self._keys(namespace, "")
        async for page in self._pages(_SCAN_PAGE, [index, *others], lambda: [hashes]):
            for identity, flat in json.loads(page[2]):
                yield _from_flat(identity, flat)

    async def _pages(
        self, script: Lua, keys: list[str], args: Callable[[], list[Any]]
    ) -> AsyncIterator[Any]:
        """Run a page script from the start of the index ``keys[0]`` to its end: each reply
        is ``{members read, last member read, ...}`` and the next page starts after that
        last member. ``args()`` gives the script's arguments after the page start and size."""
        start = "-"
        while True:
            page: Any = await self.backend.script(script, keys, [start, PAGE, *args()])
            yield page
            if int(page[0]) < PAGE:
                return
            start = "(" + page[1].decode()

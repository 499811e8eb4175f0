"""Key-value over Redis: a hash per key plus sorted-set indexes per namespace for Scan.

``prism:{ns}:k:<key>`` is a hash (``v`` = value, ``t:<name>`` = tags) expiring by PEXPIREAT;
``prism:{ns}:idx`` holds every key name at score 0, so ZRANGEBYLEX lists them in byte order
(= code point order for UTF-8) and "resume after key K" is one range query;
``prism:{ns}:exp`` holds the names that have a TTL, scored by their expiry time (ms, Redis
clock). Writes touching value and indexes are one Lua script (atomic). Set builds the new hash
in the namespace's scratch key ``prism:{ns}:new`` and RENAMEs it over the old one last, so a
script that fails part-way leaves the old entry as it was. Redis expires the hash by itself;
each Set also drops up to ``SWEEP_BATCH`` expired names from both indexes (oldest expiry
first), so the index stays near the live key count without a Scan. Scan and Count drop the
dead names they meet as well.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Mapping

from prism.plugins.redis.connection import (
    Backend,
    Lua,
    decode_fields,
    encode_fields,
    namespace_prefix,
)
from prism.sdk.patterns import CountByScan, Entry

SCAN_PAGE_SIZE = 256  # names per Scan round trip
SCAN_PAGE_BYTES = 1 << 20  # names and values per round trip, past the first entry

SWEEP_BATCH = 64  # expired names a Set removes from the indexes: more than the one it adds

# Redis's clock in ms, the one PEXPIRE uses (frozen while a script runs).
_NOW = "local t = redis.call('TIME')\nlocal now = t[1] * 1000 + math.floor(t[2] / 1000)\n"
# KEYS: hash, idx, exp, scratch. ARGV: name, ttl ms or '', sweep batch, hash prefix, fields.
# HSET in chunks of 200 arguments (100 fields): Lua's unpack fails beyond ~8,000. Index
# entries without their hash are harmless (Scan skips and drops them), so the index writes
# may come before the RENAME that replaces the entry.
_SET = Lua(
    _NOW
    + """
local gone = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. now, 'LIMIT', 0, ARGV[3])
for _, name in ipairs(gone) do
  if redis.call('EXISTS', ARGV[4] .. name) == 0 then
    redis.call('ZREM', KEYS[2], name)
    redis.call('ZREM', KEYS[3], name)
  end
end
redis.call('DEL', KEYS[4])
for i = 5, #ARGV, 200 do
  redis.call('HSET', KEYS[4], unpack(ARGV, i, math.min(i + 199, #ARGV)))
end
redis.call('ZADD', KEYS[2], 0, ARGV[1])
if ARGV[2] == '' then redis.call('ZREM', KEYS[3], ARGV[1])
else redis.call('ZADD', KEYS[3], now + ARGV[2], ARGV[1]) end
local existed = redis.call('EXISTS', KEYS[1])
redis.call('RENAME', KEYS[4], KEYS[1])
if ARGV[2] ~= '' then redis.call('PEXPIREAT', KEYS[1], now + ARGV[2]) end
return existed"""
)
_EXPIRE = Lua(
    _NOW
    + """
if redis.call('PEXPIREAT', KEYS[1], now + ARGV[2]) == 0 then return 0 end
redis.call('ZADD', KEYS[3], now + ARGV[2], ARGV[1])
return 1"""
)
_DELETE = Lua("""
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return redis.call('DEL', KEYS[1])""")
_PERSIST = Lua("""
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
redis.call('ZREM', KEYS[3], ARGV[1])
return redis.call('PERSIST', KEYS[1])""")
# One page of the index in [ARGV[1], ARGV[2]]: up to ARGV[3] live names with their value (''
# if keys_only), and past the first one no more than ARGV[6] bytes of names and values. Dead
# names are removed from both indexes (KEYS). Returns {last name consumed, {name, value...},
# 1 if the range has no more names}.
_SCAN_PAGE = Lua("""
local names = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], ARGV[2], 'LIMIT', 0, ARGV[3])
local out, room, last = {}, tonumber(ARGV[6]), ''
for _, name in ipairs(names) do
  local key = ARGV[5] .. name
  if redis.call('EXISTS', key) == 0 then
    redis.call('ZREM', KEYS[1], name)
    redis.call('ZREM', KEYS[2], name)
  else
    local size = #name
    if ARGV[4] ~= '1' then size = size + redis.call('HSTRLEN', key, 'v') end
    if #out > 0 and size > room then return {last, out, 0} end
    room = room - size
    out[#out + 1] = name
    out[#out + 1] = ARGV[4] == '1' and '' or redis.call('HGET', key, 'v')
  end
  last = name
end
return {last, out, #names < tonumber(ARGV[3]) and 1 or 0}""")


def _ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


def _keys(namespace: str, key: str) -> list[str]:
    """The KEYS of a script on one entry: hash, idx, exp, scratch."""
    prefix = namespace_prefix(namespace)
    return [f"{prefix}k:{key}", f"{prefix}idx", f"{prefix}exp", f"{prefix}new"]


class RedisStore(CountByScan):
    """Implements KeyValueStore, KeyValueTTLStore and KeyValueScanStore (prism.sdk.patterns);
    ``count`` walks ``scan`` (CountByScan)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    async def set(
        self,
        namespace: str,
        key: str,
        value: bytes,
        ttl_seconds: float | None,
        tags: Mapping[str, str],
    ) -> bool:
        ttl = "" if ttl_seconds is None else str(_ms(ttl_seconds))
        fields = encode_fields("v", value, "t:", tags)
        args = [key, ttl, SWEEP_BATCH, f"{namespace_prefix(namespace)}k:", *fields]
        return not await self.backend.script(_SET, _keys(namespace, key), args, write=True)

    async def get(self, namespace: str, key: str) -> Entry | None:
        raw = await self.backend.command("HGETALL", _keys(namespace, key)[0])
        return Entry(raw.get(b"v", b""), decode_fields(raw, b"t:")) if raw else None

    async def delete(self, namespace: str, key: str) -> bool:
        return bool(await self.backend.script(_DELETE, _keys(namespace, key), [key], write=True))

    async def exists(self, namespace: str, key: str) -> bool:
        return bool(await self.backend.command("EXISTS", _keys(namespace, key)[0]))

    async def expire(self, namespace: str, key: str, ttl_seconds: float) -> bool:
        args = [key, _ms(ttl_seconds)]
        return bool(await self.backend.script(_EXPIRE, _keys(namespace, key), args, write=True))

    async def get_ttl(self, namespace: str, key: str) -> tuple[bool, float | None]:
        ms = int(await self.backend.command("PTTL", _keys(namespace, key)[0]))
        return (False, None) if ms == -2 else (True, None if ms == -1 else ms / 1000.0)

    async def persist(self, namespace: str, key: str) -> bool | None:
        done = int(await self.backend.script(_PERSIST, _keys(namespace, key), [key], write=True))
        return None if done < 0 else bool(done)

    async def scan(
        self, namespace: str, prefix: str, after: str | None, keys_only: bool, limit: int = 0
    ) -> AsyncIterator[tuple[str, bytes]]:
        ns, start = namespace_prefix(namespace), prefix.encode()
        low = b"[" + start if prefix else b"-"
        if after is not None and after >= prefix:
            low = b"(" + after.encode()
        high = b"(" + start + b"\xff" if prefix else b"+"  # no UTF-8 byte is 0xff
        left = limit
        while True:  # a page per round trip; no connection is held between yields
            size = min(SCAN_PAGE_SIZE, left) if limit else SCAN_PAGE_SIZE
            args = [low, high, size, int(keys_only), f"{ns}k:", SCAN_PAGE_BYTES]
            keys = [f"{ns}idx", f"{ns}exp"]
            last, flat, exhausted = await self.backend.script(_SCAN_PAGE, keys, args)
            for i in range(0, len(flat), 2):
                yield flat[i].decode(), flat[i + 1]
            left -= len(flat) // 2
            if exhausted or (limit and left <= 0):
                return
            low = b"(" + last

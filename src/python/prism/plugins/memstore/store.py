"""The in-memory store: entries, a sorted key index per namespace, TTLs and capacity bounds."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

from sortedcontainers import SortedDict

from prism.sdk.backend import Resource
from prism.sdk.errors import ResourceExhaustedError
from prism.sdk.health import CheckOutcome, HealthChecker, HealthStatus
from prism.sdk.patterns import CountByScan, Entry
from prism.sdk.ttl import TTLManager

_Key = tuple[str, str]

SCAN_PAGE_SIZE = 256  # keys copied out of the index per step of a Scan


def _size(key: str, entry: Entry) -> int:
    tags = sum(len(k.encode("utf-8")) + len(v.encode("utf-8")) for k, v in entry.tags.items())
    return len(key.encode("utf-8")) + len(entry.value) + tags


class MemStore(CountByScan, Resource):
    """Implements KeyValueStore, KeyValueTTLStore and KeyValueScanStore (prism.sdk.patterns).

    As a Resource: expiry runs while started; the "capacity" check is DEGRADED above 90% full.
    """

    def __init__(self, *, max_keys: int, max_bytes: int) -> None:
        self.max_keys = max_keys
        self.max_bytes = max_bytes
        self.used_bytes = 0
        self._namespaces: dict[str, SortedDict] = {}
        self.ttl: TTLManager[_Key] = TTLManager(on_expire=self._expired)

    def register_health(self, health: HealthChecker) -> None:
        health.register("capacity", self._capacity, critical=False)

    async def start(self) -> None:
        await self.ttl.start()

    async def close(self, timeout: float | None = None) -> None:
        await self.ttl.stop()

    async def _capacity(self) -> CheckOutcome | None:
        used = max(len(self) / self.max_keys, self.used_bytes / self.max_bytes)
        if used > 0.9:
            return CheckOutcome(HealthStatus.DEGRADED, f"memstore {used:.0%} full")
        return None

    def __len__(self) -> int:
        return sum(len(entries) for entries in self._namespaces.values())

    def _live(self, namespace: str, key: str) -> Entry | None:
        entries = self._namespaces.get(namespace)
        entry: Entry | None = entries.get(key) if entries is not None else None
        if entry is not None and self.ttl.is_expired((namespace, key)):
            self._remove(namespace, key)
            return None
        return entry

    def _remove(self, namespace: str, key: str) -> bool:
        entries = self._namespaces.get(namespace)
        if entries is None or key not in entries:
            return False
        self.used_bytes -= _size(key, entries.pop(key))
        self.ttl.remove((namespace, key))
        if not entries:
            del self._namespaces[namespace]
        return True

    def _expired(self, target: _Key) -> None:
        self._remove(*target)

    async def set(
        self,
        namespace: str,
        key: str,
        value: bytes,
        ttl_seconds: float | None,
        tags: Mapping[str, str],
    ) -> bool:
        entry = Entry(value, dict(tags))
        old = self._live(namespace, key)
        grow = _size(key, entry) - (_size(key, old) if old is not None else 0)
        if old is None and len(self) >= self.max_keys:
            raise ResourceExhaustedError(f"memstore is full: {self.max_keys} keys (max_keys)")
        if self.used_bytes + grow > self.max_bytes:
            raise ResourceExhaustedError(
                f"memstore is full: {self.used_bytes} + {grow} bytes would pass "
                f"max_bytes={self.max_bytes}"
            )
        self._namespaces.setdefault(namespace, SortedDict())[key] = entry
        self.used_bytes += grow
        if ttl_seconds is None:
            self.ttl.remove((namespace, key))
        else:
            self.ttl.set((namespace, key), ttl_seconds)
        return old is None

    async def get(self, namespace: str, key: str) -> Entry | None:
        return self._live(namespace, key)

    async def delete(self, namespace: str, key: str) -> bool:
        return self._live(namespace, key) is not None and self._remove(namespace, key)

    async def exists(self, namespace: str, key: str) -> bool:
        return self._live(namespace, key) is not None

    async def expire(self, namespace: str, key: str, ttl_seconds: float) -> bool:
        if self._live(namespace, key) is None:
            return False
        self.ttl.set((namespace, key), ttl_seconds)
        return True

    async def get_ttl(self, namespace: str, key: str) -> tuple[bool, float | None]:
        if self._live(namespace, key) is None:
            return False, None
        return True, self.ttl.remaining((namespace, key))

    async def persist(self, namespace: str, key: str) -> bool | None:
        if self._live(namespace, key) is None:
            return None
        return self.ttl.persist((namespace, key))

    async def scan(
        self, namespace: str, prefix: str, after: str | None, keys_only: bool, limit: int = 0
    ) -> AsyncIterator[tuple[str, bytes]]:
        start, inclusive = (
            (after, False) if after is not None and after >= prefix else (prefix, True)
        )
        left = limit
        while True:  # a page of keys at a time, found by bisection: the dict may change
            entries = self._namespaces.get(namespace)
            if entries is None:
                return
            first = entries.bisect_left(start) if inclusive else entries.bisect_right(start)
            page = entries.keys()[first : first + SCAN_PAGE_SIZE]
            for key in page:
                if not key.startswith(prefix):
                    return
                entry = self._live(namespace, key)
                if entry is not None:
                    yield key, b"" if keys_only else entry.value
                    left -= 1
                    if left == 0:
                        return
            if len(page) < SCAN_PAGE_SIZE:
                return
            start, inclusive = page[-1], False

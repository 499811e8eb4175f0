"""MemStoreRegistry: the multicast registry slot in process memory (the embedded default).

Expiry is native through prism.sdk.ttl: an expired registration is invisible at once
(``is_expired`` on every read) and its memory is reclaimed by the TTL manager's loop. A
(key, value) -> identities index, kept with every change, lets a filter with an EQ or IN
condition visit only the registrations that can match (:meth:`Filter.index_terms`).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping, Sequence

from prism.sdk.patterns import Filter, Registered
from prism.sdk.ttl import TTLManager

_Key = tuple[str, str]
_Pair = tuple[str, str]


class MemStoreRegistry:
    """Implements prism.sdk.patterns.RegistrySlot; call ``start``/``stop`` for expiry."""

    def __init__(self) -> None:
        self._namespaces: dict[str, dict[str, Registered]] = {}
        self._pairs: dict[str, dict[_Pair, set[str]]] = {}  # namespace -> (key, value) -> ids
        self.ttl: TTLManager[_Key] = TTLManager(self._expired)

    async def start(self) -> None:
        await self.ttl.start()

    async def stop(self) -> None:
        await self.ttl.stop()

    def __len__(self) -> int:
        return sum(len(entries) for entries in self._namespaces.values())

    def _expired(self, key: _Key) -> None:
        entries = self._namespaces.get(key[0])
        if entries is not None:
            entry = entries.pop(key[1], None)
            if entry is not None:
                self._unindex(key[0], entry)
            if not entries:
                del self._namespaces[key[0]]

    def _unindex(self, namespace: str, entry: Registered) -> None:
        pairs = self._pairs.get(namespace)
        if pairs is None:
            return
        for pair in entry.metadata.items():
            identities = pairs[pair]
            identities.discard(entry.identity)
            if not identities:
                del pairs[pair]
        if not pairs:
            del self._pairs[namespace]

    def _live(self, namespace: str, identity: str) -> Registered | None:
        entry = self._namespaces.get(namespace, {}).get(identity)
        if entry is None:
            return None
        if self.ttl.is_expired((namespace, identity)):
            self.ttl.remove((namespace, identity))
            self._expired((namespace, identity))
            return None
        return entry

    async def put(
        self, namespace: str, identity: str, metadata: Mapping[str, str], ttl_seconds: float
    ) -> bool:
        created = self._live(namespace, identity) is None
        expire_ms = int(time.time() * 1000 + ttl_seconds * 1000) if ttl_seconds else 0
        entry = Registered(identity, dict(metadata), expire_ms)
        entries = self._namespaces.setdefault(namespace, {})
        old = entries.get(identity)
        if old is not None:
            self._unindex(namespace, old)
        entries[identity] = entry
        if entry.metadata:
            pairs = self._pairs.setdefault(namespace, {})
            for pair in entry.metadata.items():
                pairs.setdefault(pair, set()).add(identity)
        if ttl_seconds:
            self.ttl.set((namespace, identity), ttl_seconds)
        else:
            self.ttl.remove((namespace, identity))
        return created

    async def delete(self, namespace: str, identity: str) -> bool:
        if self._live(namespace, identity) is None:
            return False
        self.ttl.remove((namespace, identity))
        self._expired((namespace, identity))
        return True

    async def get(self, namespace: str, identity: str) -> Registered | None:
        return self._live(namespace, identity)

    async def scan(self, namespace: str, where: Filter) -> AsyncIterator[Registered]:
        terms = where.index_terms()
        if terms is None:
            candidates = list(self._namespaces.get(namespace, {}))
        else:
            pairs = self._pairs.get(namespace, {})
            candidates = [i for v in terms[1] for i in list(pairs.get((terms[0], v), ()))]
        for identity in candidates:
            entry = self._live(namespace, identity)
            if entry is not None and where.matches(entry.metadata):
                yield entry

    async def identities(
        self, namespace: str, key: str, values: Sequence[str]
    ) -> AsyncIterator[str]:
        pairs = self._pairs.get(namespace, {})
        for identity in [i for v in values for i in list(pairs.get((key, v), ()))]:
            if self._live(namespace, identity) is not None:
                yield identity

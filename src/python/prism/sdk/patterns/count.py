"""CountByScan: ``count`` for a key-value store whose backend has no cheaper way to count."""

from __future__ import annotations

from prism.sdk.patterns.keyvalue import KeyValueScanStore


class CountByScan:
    """Mixin for a KeyValueScanStore: ``count`` walks the store's own ``scan`` (keys only).

    Counting is then exactly what a Scan would list (expired keys excluded, the backend's
    lazy cleanup applied), paged like a Scan so memory stays flat however many keys match.
    """

    async def count(self: KeyValueScanStore, namespace: str, prefix: str) -> int:
        found = 0
        async for _ in self.scan(namespace, prefix, None, True):
            found += 1
        return found

"""CountByScan: ``count`` for a scan-capable store is the number of keys its scan lists."""

from __future__ import annotations

from collections.abc import AsyncIterator

from prism.sdk.patterns import CountByScan, KeyValueScanStore


class ListStore(CountByScan):
    def __init__(self, keys: list[str]) -> None:
        self.keys = sorted(keys)
        self.scans: list[tuple[str, bool]] = []

    async def scan(
        self, namespace: str, prefix: str, after: str | None, keys_only: bool, limit: int = 0
    ) -> AsyncIterator[tuple[str, bytes]]:
        self.scans.append((prefix, keys_only))
        for key in self.keys:
            if key.startswith(prefix) and (after is None or key > after):
                yield key, b""


async def test_count_walks_scan_keys_only() -> None:
    store = ListStore(["a1", "a2", "b1", "a3"])
    assert isinstance(store, KeyValueScanStore)
    assert await store.count("ns", "a") == 3
    assert await store.count("ns", "") == 4
    assert await store.count("ns", "z") == 0
    assert store.scans == [("a", True), ("", True), ("z", True)]

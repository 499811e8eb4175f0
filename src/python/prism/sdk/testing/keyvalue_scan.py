"""Conformance tests for KeyValueScanInterface (Scan and Count by prefix)."""

from __future__ import annotations

from prism.sdk.testing._base import KeyValueConformanceBase
from prism.sdk.testing._clients import KVClient
from prism.sdk.testing._support import unique, utf8_order

# Suffixes whose UTF-8 byte order differs from naive expectations (case, length, multi-byte).
_SUFFIXES = ["b", "a", "ab", "B", "a/b", "z", "é", "日本", "🎉", "0", ""]


class KeyValueScanConformance(KeyValueConformanceBase):
    """KeyValueScanInterface: prefix filter, UTF-8 byte order, keys_only, limit, cursors, Count.

    Namespaces are shared with other tests, so every test writes under its own unique prefix.
    """

    async def write_scan_keys(self, prism_kv: KVClient) -> tuple[str, list[str]]:
        """Writes one key per suffix (in a non-sorted order) under a fresh prefix, plus decoys.

        Returns the prefix and the keys in the order Scan must return them.
        """
        prefix = unique("scan") + "/"
        keys = [prefix + suffix for suffix in _SUFFIXES]
        for key in keys:
            await prism_kv.set(key, b"value of " + key.encode())
        # Neighbours that share all but the last character of the prefix must not match.
        await prism_kv.set(prefix[:-1], b"decoy")
        await prism_kv.set(prefix[:-1] + "0", b"decoy")
        return prefix, utf8_order(keys)

    async def test_scan_prefix_returns_keys_in_order_with_values(self, prism_kv: KVClient) -> None:
        prefix, expected = await self.write_scan_keys(prism_kv)
        items = await prism_kv.scan(prefix)
        assert [item.key for item in items] == expected, "exactly the prefixed keys, ascending"
        assert [item.value for item in items] == [b"value of " + k.encode() for k in expected]
        assert all(item.cursor for item in items), "every item carries a cursor"

    async def test_scan_keys_only_leaves_values_empty(self, prism_kv: KVClient) -> None:
        prefix, expected = await self.write_scan_keys(prism_kv)
        items = await prism_kv.scan(prefix, keys_only=True)
        assert [item.key for item in items] == expected
        assert all(item.value == b"" for item in items)

    async def test_scan_limit_returns_first_items(self, prism_kv: KVClient) -> None:
        prefix, expected = await self.write_scan_keys(prism_kv)
        items = await prism_kv.scan(prefix, limit=3)
        assert [item.key for item in items] == expected[:3]

    async def test_scan_pages_by_cursor_without_gaps_or_duplicates(
        self, prism_kv: KVClient
    ) -> None:
        prefix, expected = await self.write_scan_keys(prism_kv)
        seen: list[str] = []
        cursor = ""
        for _ in range(len(expected) + 2):  # bounded: a cursor that never advances fails
            page = await prism_kv.scan(prefix, limit=2, cursor=cursor)
            assert len(page) <= 2, "limit caps the page size"
            if not page:
                break
            seen.extend(item.key for item in page)
            cursor = page[-1].cursor
            if len(page) < 2:
                break
        assert seen == expected, "paging must visit every key once, in order"

    async def test_scan_resumes_right_after_an_items_cursor(self, prism_kv: KVClient) -> None:
        prefix, expected = await self.write_scan_keys(prism_kv)
        items = await prism_kv.scan(prefix)
        middle = len(items) // 2
        resumed = await prism_kv.scan(prefix, cursor=items[middle].cursor)
        assert [item.key for item in resumed] == expected[middle + 1 :]
        assert await prism_kv.scan(prefix, cursor=items[-1].cursor) == []

    async def test_scan_empty_prefix_is_whole_namespace_in_order(self, prism_kv: KVClient) -> None:
        _, expected = await self.write_scan_keys(prism_kv)
        keys = [item.key for item in await prism_kv.scan("", keys_only=True)]
        encoded = [key.encode() for key in keys]
        assert encoded == sorted(encoded), "an empty prefix scans every key, ascending"
        assert len(set(keys)) == len(keys), "no duplicates"
        missing = set(expected) - set(keys)
        assert not missing, f"keys missing from the namespace scan: {sorted(missing)[:3]}"

    async def test_scan_unmatched_prefix_is_empty(self, prism_kv: KVClient) -> None:
        prefix = unique("nothing") + "/"
        assert await prism_kv.scan(prefix) == []
        assert await prism_kv.count(prefix) == 0

    async def test_scan_skips_deleted_keys(self, prism_kv: KVClient) -> None:
        prefix, expected = await self.write_scan_keys(prism_kv)
        await prism_kv.delete(expected[1])
        assert [item.key for item in await prism_kv.scan(prefix)] == expected[:1] + expected[2:]

    async def test_count_by_prefix(self, prism_kv: KVClient) -> None:
        prefix, expected = await self.write_scan_keys(prism_kv)
        assert await prism_kv.count(prefix) == len(expected)
        await prism_kv.delete(expected[0])
        assert await prism_kv.count(prefix) == len(expected) - 1
        assert await prism_kv.count(expected[-1]) == 1

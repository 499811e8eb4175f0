"""MemStore's own rules: capacity bounds, expiry through the TTL manager, byte accounting."""

from __future__ import annotations

import asyncio
import tracemalloc

import pytest

from prism.plugins.memstore import MemStore
from prism.plugins.memstore.store import SCAN_PAGE_SIZE
from prism.sdk.errors import ResourceExhaustedError


async def test_max_keys_rejects_new_keys_but_allows_overwrite() -> None:
    store = MemStore(max_keys=2, max_bytes=1 << 20)
    assert await store.set("ns", "a", b"1", None, {})
    assert await store.set("ns", "b", b"2", None, {})
    with pytest.raises(ResourceExhaustedError, match="2 keys"):
        await store.set("ns", "c", b"3", None, {})
    assert not await store.set("ns", "a", b"overwrite", None, {})
    assert (await store.get("ns", "a")).value == b"overwrite"  # type: ignore[union-attr]


async def test_max_bytes_counts_keys_values_and_tags() -> None:
    store = MemStore(max_keys=100, max_bytes=10)
    await store.set("ns", "k", b"123", None, {"t": "v"})  # 1 + 3 + 2 bytes
    assert store.used_bytes == 6
    with pytest.raises(ResourceExhaustedError, match="max_bytes=10"):
        await store.set("ns", "k2", b"12345", None, {})
    await store.delete("ns", "k")
    assert store.used_bytes == 0
    await store.set("ns", "k2", b"12345", None, {})
    assert store.used_bytes == 7


async def test_max_bytes_counts_tags_in_utf8_bytes() -> None:
    store = MemStore(max_keys=100, max_bytes=12)
    await store.set("ns", "k", b"", None, {"é": "日本"})  # 1 + 0 + 2 + 6 bytes, not 1 + 3 chars
    assert store.used_bytes == 9
    with pytest.raises(ResourceExhaustedError, match="max_bytes=12"):
        await store.set("ns", "k2", b"", None, {"🎉": ""})  # 2 + 4 bytes would make 15
    await store.delete("ns", "k")
    assert store.used_bytes == 0


async def test_expired_key_is_gone_before_and_after_the_sweep() -> None:
    store = MemStore(max_keys=10, max_bytes=1 << 20)
    await store.ttl.start()
    try:
        await store.set("ns", "k", b"v", 0.05, {})
        assert await store.exists("ns", "k")
        await asyncio.sleep(0.1)
        assert not await store.exists("ns", "k")
        for _ in range(50):  # the background sweep frees the memory too
            if store.used_bytes == 0:
                break
            await asyncio.sleep(0.02)
        assert store.used_bytes == 0 and len(store) == 0
    finally:
        await store.ttl.stop()


async def test_set_without_ttl_clears_the_old_ttl() -> None:
    store = MemStore(max_keys=10, max_bytes=1 << 20)
    await store.set("ns", "k", b"v", 30, {})
    assert (await store.get_ttl("ns", "k"))[1] is not None
    await store.set("ns", "k", b"v2", None, {})
    assert await store.get_ttl("ns", "k") == (True, None)


async def test_scan_is_per_namespace_and_ordered() -> None:
    store = MemStore(max_keys=10, max_bytes=1 << 20)
    for key in ("b", "a", "c"):
        await store.set("one", key, key.encode(), None, {})
    await store.set("two", "a", b"other", None, {})
    assert [k async for k, _ in store.scan("one", "", None, False)] == ["a", "b", "c"]
    assert [k async for k, _ in store.scan("one", "", "a", False)] == ["b", "c"]
    assert await store.count("two", "") == 1


async def test_scan_of_a_small_prefix_copies_a_page_not_the_namespace() -> None:
    store = MemStore(max_keys=1_000_000, max_bytes=1 << 30)
    for i in range(100_000):
        await store.set("ns", f"b{i:06d}", b"", None, {})
    for i in range(10):
        await store.set("ns", f"a{i}", b"v", None, {})
    tracemalloc.start()
    try:
        found = [k async for k, _ in store.scan("ns", "a", None, True)]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert found == [f"a{i}" for i in range(10)]
    # A list of the 100,000 keys after "a" alone is 800 KB.
    assert peak < 64 * 1024, f"scan allocated {peak} bytes for 10 keys"


async def test_scan_pages_resume_after_changes_and_honour_the_limit() -> None:
    store = MemStore(max_keys=10_000, max_bytes=1 << 30)
    names = [f"p{i:04d}" for i in range(SCAN_PAGE_SIZE * 2 + 5)]
    for name in [*names, "other"]:
        await store.set("ns", name, name.encode(), None, {})
    edge = 3 + SCAN_PAGE_SIZE  # the last key of the first page after names[3]
    seen = []
    async for key, value in store.scan("ns", "p", names[3], False):
        assert value == key.encode()
        seen.append(key)
        if key == names[edge]:  # changes between pages show in the next page
            await store.delete("ns", names[edge + 1])
            await store.set("ns", names[edge] + "x", (names[edge] + "x").encode(), None, {})
    now = [*names[: edge + 1], names[edge] + "x", *names[edge + 2 :]]
    assert seen == now[4:]
    assert [k async for k, _ in store.scan("ns", "p", None, True, 300)] == now[:300]
    assert await store.count("ns", "p") == len(now)

"""Conformance tests for KeyValueBasicInterface (Set / Get / Delete / Exists)."""

from __future__ import annotations

import grpc
import pytest

from prism.sdk.limits import MAX_KEY_BYTES, MAX_VALUE_BYTES
from prism.sdk.testing._base import KeyValueConformanceBase
from prism.sdk.testing._clients import KVClient
from prism.sdk.testing._support import key_of_bytes, mentions_limit, unique

INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND

_UNICODE_KEYS = {
    "latin-accent": "café-é",
    "cjk": "日本",
    "emoji": "🎉🐍",
    "mixed-path": "é/日本/🎉",
}


class KeyValueBasicConformance(KeyValueConformanceBase):
    """KeyValueBasicInterface: round trips, overwrite, delete, exists, binary data, limits."""

    async def test_set_get_round_trip(self, prism_kv: KVClient) -> None:
        key = unique("kv")
        await prism_kv.set(key, b"hello", tags={"owner": "conformance", "kind": "greeting"})
        got = await prism_kv.get(key)
        assert got.value == b"hello"
        assert dict(got.tags) == {"owner": "conformance", "kind": "greeting"}

    async def test_set_reports_created_then_not_on_overwrite(self, prism_kv: KVClient) -> None:
        key = unique("kv")
        assert await prism_kv.set(key, b"one") is True, "first Set must report created=True"
        assert await prism_kv.set(key, b"two") is False, "overwrite must report created=False"

    async def test_overwrite_replaces_value_and_tags(self, prism_kv: KVClient) -> None:
        key = unique("kv")
        await prism_kv.set(key, b"old value", tags={"a": "1", "b": "2"})
        await prism_kv.set(key, b"new", tags={"c": "3"})
        got = await prism_kv.get(key)
        assert got.value == b"new"
        assert dict(got.tags) == {"c": "3"}, "Set replaces the whole entry, tags included"

    async def test_overwrite_without_tags_clears_tags(self, prism_kv: KVClient) -> None:
        key = unique("kv")
        await prism_kv.set(key, b"v", tags={"a": "1"})
        await prism_kv.set(key, b"v")
        assert dict((await prism_kv.get(key)).tags) == {}

    async def test_get_missing_key_is_not_found(self, prism_kv: KVClient) -> None:
        await prism_kv.expect(NOT_FOUND, prism_kv.get_call(unique("missing")), "Get(missing)")

    async def test_delete_returns_deleted_then_false(self, prism_kv: KVClient) -> None:
        key = unique("kv")
        await prism_kv.set(key, b"v")
        assert await prism_kv.delete(key) is True
        assert await prism_kv.delete(key) is False, "deleting twice is not an error"
        await prism_kv.expect(NOT_FOUND, prism_kv.get_call(key), "Get after Delete")

    async def test_delete_missing_key_returns_false(self, prism_kv: KVClient) -> None:
        assert await prism_kv.delete(unique("missing")) is False

    async def test_exists(self, prism_kv: KVClient) -> None:
        key = unique("kv")
        assert await prism_kv.exists(key) is False
        await prism_kv.set(key, b"")
        assert await prism_kv.exists(key) is True, "a key with an empty value exists"
        await prism_kv.delete(key)
        assert await prism_kv.exists(key) is False

    async def test_empty_value_round_trip(self, prism_kv: KVClient) -> None:
        key = unique("kv")
        await prism_kv.set(key, b"")
        assert (await prism_kv.get(key)).value == b""

    async def test_all_byte_values_round_trip(self, prism_kv: KVClient) -> None:
        key = unique("kv")
        value = bytes(range(256)) * 2
        await prism_kv.set(key, value)
        assert (await prism_kv.get(key)).value == value

    async def test_one_mebibyte_value_round_trip(self, prism_kv: KVClient) -> None:
        key = unique("kv")
        value = bytes(i % 251 for i in range(1024 * 1024))
        try:
            await prism_kv.set(key, value)
            got = await prism_kv.get(key)
            assert len(got.value) == len(value)
            assert got.value == value
        finally:
            await prism_kv.delete(key)

    @pytest.mark.parametrize("name", sorted(_UNICODE_KEYS))
    async def test_unicode_key_round_trip(self, prism_kv: KVClient, name: str) -> None:
        key = unique("kv") + _UNICODE_KEYS[name]
        other = unique("kv") + _UNICODE_KEYS[name]
        await prism_kv.set(key, name.encode())
        assert (await prism_kv.get(key)).value == name.encode()
        assert await prism_kv.exists(key) is True
        assert await prism_kv.exists(other) is False, "keys differing before the suffix collide"
        assert await prism_kv.delete(key) is True

    @pytest.mark.parametrize("op", ["Set", "Get", "Delete", "Exists"])
    async def test_empty_key_is_invalid(self, prism_kv: KVClient, op: str) -> None:
        calls = {
            "Set": lambda: prism_kv.set_call("", b"v"),
            "Get": lambda: prism_kv.get_call(""),
            "Delete": lambda: prism_kv.delete_call(""),
            "Exists": lambda: prism_kv.exists_call(""),
        }
        await prism_kv.expect(INVALID, calls[op](), f"{op} with an empty key")

    @pytest.mark.parametrize("shape", ["ascii", "multibyte"])
    async def test_key_over_limit_is_invalid(self, prism_kv: KVClient, shape: str) -> None:
        # "multibyte": fewer than MAX_KEY_BYTES characters but more UTF-8 bytes, so a plugin
        # counting characters instead of bytes fails here.
        seed = unique("long")
        if shape == "ascii":
            key = seed + "k" * (MAX_KEY_BYTES + 1 - len(seed))
        else:
            key = key_of_bytes(MAX_KEY_BYTES + 1, seed)
            assert len(key) <= MAX_KEY_BYTES
        err = await prism_kv.expect(INVALID, prism_kv.set_call(key, b"v"), "Set(oversized key)")
        assert mentions_limit(err.details() or "", MAX_KEY_BYTES), (
            f"the error should name the {MAX_KEY_BYTES}-byte limit: {err.details()!r}"
        )
        await prism_kv.expect(INVALID, prism_kv.get_call(key), "Get(oversized key)")

    async def test_key_at_limit_is_accepted(self, prism_kv: KVClient) -> None:
        key = key_of_bytes(MAX_KEY_BYTES, unique("limit"))
        await prism_kv.set(key, b"at the limit")
        assert (await prism_kv.get(key)).value == b"at the limit"
        assert await prism_kv.delete(key) is True

    async def test_value_over_limit_is_invalid(self, prism_kv: KVClient) -> None:
        key = unique("big")
        call = prism_kv.set_call(key, b"x" * (MAX_VALUE_BYTES + 1))
        err = await prism_kv.expect(INVALID, call, "Set(oversized value)")
        assert mentions_limit(err.details() or "", MAX_VALUE_BYTES), (
            f"the error should name the {MAX_VALUE_BYTES}-byte limit: {err.details()!r}"
        )
        assert await prism_kv.exists(key) is False, "a rejected Set must not store anything"

    async def test_value_at_limit_is_accepted(self, prism_kv: KVClient) -> None:
        key = unique("big")
        value = b"\xab" * MAX_VALUE_BYTES
        try:
            await prism_kv.set(key, value)
            assert (await prism_kv.get(key)).value == value
        finally:
            await prism_kv.delete(key)

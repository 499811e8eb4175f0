"""Conformance tests for KeyValueTTLInterface and the ``ttl_seconds`` field of Set."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest

from prism.sdk.testing._base import KeyValueConformanceBase
from prism.sdk.testing._clients import KVClient
from prism.sdk.testing._support import fail, unique

INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND

#: A TTL long enough never to run out during a test (seconds).
LONG_TTL = 300.0


class KeyValueTTLConformance(KeyValueConformanceBase):
    """KeyValueTTLInterface: expiry through Set and Expire, GetTTL, Persist, invalid TTLs.

    Expiry is polled: a key must be gone (Get NOT_FOUND, Exists false) at the latest
    ``ttl_seconds + ttl_grace_seconds`` after the call that set the TTL was sent.
    """

    async def _assert_expires(self, kv: KVClient, key: str, sent_at: float, ttl: float) -> None:
        deadline = sent_at + ttl + self.ttl_grace_seconds
        while True:
            gone = await kv.get_or_none(key) is None
            if gone and not await kv.exists(key):
                return
            if time.monotonic() > deadline:
                state = "Exists is still true" if gone else "Get still returns it"
                fail(
                    f"key {key!r} has not expired {ttl + self.ttl_grace_seconds:.2f} s after "
                    f"a {ttl} s TTL was set ({state})"
                )
            await asyncio.sleep(self.poll_interval_seconds)

    async def _assert_alive_early(self, kv: KVClient, key: str, sent_at: float, ttl: float) -> None:
        """The key must still be there well before its TTL (skipped if the machine is slow)."""
        found = await kv.get_or_none(key) is not None
        if time.monotonic() - sent_at < ttl / 2:
            assert found, f"key {key!r} vanished long before its {ttl} s TTL"

    async def test_set_with_ttl_expires(self, prism_kv: KVClient) -> None:
        key, ttl = unique("ttl"), self.ttl_seconds
        sent_at = time.monotonic()
        await prism_kv.set(key, b"short-lived", ttl=ttl)
        await self._assert_alive_early(prism_kv, key, sent_at, ttl)
        await self._assert_expires(prism_kv, key, sent_at, ttl)
        assert await prism_kv.set(key, b"again") is True, "Set after expiry creates the key"

    async def test_get_ttl_reports_and_decreases(self, prism_kv: KVClient) -> None:
        key = unique("ttl")
        await prism_kv.set(key, b"v", ttl=LONG_TTL)
        first = await prism_kv.get_ttl(key)
        assert first.has_ttl is True
        assert 0 < first.ttl_seconds <= LONG_TTL
        await asyncio.sleep(0.25)
        second = await prism_kv.get_ttl(key)
        assert second.has_ttl is True
        assert 0 < second.ttl_seconds < first.ttl_seconds, "the remaining TTL must go down"

    async def test_get_ttl_without_ttl(self, prism_kv: KVClient) -> None:
        key = unique("ttl")
        await prism_kv.set(key, b"v")
        got = await prism_kv.get_ttl(key)
        assert got.has_ttl is False
        assert got.ttl_seconds == 0

    async def test_expire_sets_a_ttl_that_expires(self, prism_kv: KVClient) -> None:
        key, ttl = unique("ttl"), self.ttl_seconds
        await prism_kv.set(key, b"v")
        sent_at = time.monotonic()
        await prism_kv.expire(key, ttl)
        await self._assert_expires(prism_kv, key, sent_at, ttl)

    async def test_expire_replaces_previous_ttl(self, prism_kv: KVClient) -> None:
        key = unique("ttl")
        await prism_kv.set(key, b"v", ttl=60.0)
        await prism_kv.expire(key, LONG_TTL)
        got = await prism_kv.get_ttl(key)
        assert got.has_ttl is True
        assert 60.0 < got.ttl_seconds <= LONG_TTL

    @pytest.mark.parametrize("op", ["Expire", "GetTTL", "Persist"])
    async def test_missing_key_is_not_found(self, prism_kv: KVClient, op: str) -> None:
        key = unique("missing")
        calls = {
            "Expire": lambda: prism_kv.expire_call(key, 10.0),
            "GetTTL": lambda: prism_kv.get_ttl_call(key),
            "Persist": lambda: prism_kv.persist_call(key),
        }
        await prism_kv.expect(NOT_FOUND, calls[op](), f"{op}(missing key)")

    async def test_persist_removes_expiry(self, prism_kv: KVClient) -> None:
        key, ttl = unique("ttl"), self.ttl_seconds
        sent_at = time.monotonic()
        await prism_kv.set(key, b"keep me", ttl=ttl)
        assert await prism_kv.persist(key) is True
        assert (await prism_kv.get_ttl(key)).has_ttl is False
        # Sleep past the old deadline plus the grace an expiry is allowed to take.
        remaining = sent_at + ttl + self.ttl_grace_seconds - time.monotonic()
        await asyncio.sleep(max(remaining, 0.0))
        assert (await prism_kv.get(key)).value == b"keep me", "a persisted key must not expire"
        assert await prism_kv.persist(key) is False, "second Persist has no TTL to remove"

    async def test_persist_without_ttl_returns_false(self, prism_kv: KVClient) -> None:
        key = unique("ttl")
        await prism_kv.set(key, b"v")
        assert await prism_kv.persist(key) is False

    async def test_set_without_ttl_clears_old_ttl(self, prism_kv: KVClient) -> None:
        key = unique("ttl")
        await prism_kv.set(key, b"v1", ttl=LONG_TTL)
        await prism_kv.set(key, b"v2")
        got = await prism_kv.get_ttl(key)
        assert got.has_ttl is False, "Set without ttl_seconds replaces the entry, TTL included"

    @pytest.mark.parametrize("ttl", [0.0, -1.0])
    async def test_invalid_ttl_is_invalid_argument(self, prism_kv: KVClient, ttl: float) -> None:
        key = unique("ttl")
        await prism_kv.expect(INVALID, prism_kv.set_call(key, b"v", ttl=ttl), f"Set(ttl={ttl})")
        assert await prism_kv.exists(key) is False, "a rejected Set must not store anything"
        await prism_kv.set(key, b"v")
        await prism_kv.expect(INVALID, prism_kv.expire_call(key, ttl), f"Expire(ttl={ttl})")
        assert (await prism_kv.get_ttl(key)).has_ttl is False

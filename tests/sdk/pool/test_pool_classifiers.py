"""Plugin classifiers in the pool, and what an acquire timeout says about its cause."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from prism.sdk.errors import (
    DeadlineExceededError,
    PoolExhaustedError,
    PrismError,
    UnavailableError,
)
from prism.sdk.pool import Pool, PoolConfig, default_is_broken
from sdk.pool.pool_fakes import FakeConn, FakeFactory, eventually, settle

QUIET: dict[str, Any] = dict(health_interval=None, leak_threshold=None, idle_timeout=None)


class ClientDown(Exception):
    """Like redis-py's ConnectionError: a client library error that is not an OSError."""


class ClientSlow(Exception):
    """Like redis-py's TimeoutError."""


def classify_client(exc: BaseException) -> PrismError | None:
    if isinstance(exc, ClientDown):
        return UnavailableError(f"backend down: {exc}")
    if isinstance(exc, ClientSlow):
        return DeadlineExceededError(f"backend slow: {exc}")
    return None


def make(factory: FakeFactory, *, classify: bool = True, **kw: object) -> Pool[FakeConn]:
    opts: dict[str, object] = {**QUIET, **kw}
    classifiers = [classify_client] if classify else []
    return Pool(factory, PoolConfig(**opts), name="c", classifiers=classifiers)  # type: ignore[arg-type]


def test_default_is_broken_uses_classifiers() -> None:
    assert not default_is_broken(ClientDown())
    assert default_is_broken(ClientDown(), [classify_client])
    assert default_is_broken(ClientSlow(), [classify_client])
    assert not default_is_broken(KeyError("k"), [classify_client])


@pytest.mark.parametrize("error", [ClientDown("reset"), ClientSlow("no reply")])
async def test_classified_client_error_discards_the_connection(error: Exception) -> None:
    f = FakeFactory()
    pool = make(f, max_open=1)
    with pytest.raises(type(error)):
        async with pool.acquire() as first:
            raise error
    await settle()
    assert first.closed and pool.stats().destroyed_by_cause["broken"] == 1
    async with pool.acquire() as second:
        assert second is not first
    await pool.close()


async def test_without_classifiers_a_client_error_keeps_the_connection() -> None:
    pool = make(FakeFactory(), classify=False)
    with pytest.raises(ClientDown):
        async with pool.acquire() as first:
            raise ClientDown("reset")
    async with pool.acquire() as second:
        assert second is first
    await pool.close()


async def test_create_failure_is_classified_with_classifiers() -> None:
    f = FakeFactory()
    f.fail = ClientDown("refused")
    pool = make(f)
    with pytest.raises(UnavailableError, match="backend down: refused") as ei:
        async with pool.acquire():
            pass  # pragma: no cover
    assert isinstance(ei.value.__cause__, ClientDown)
    await pool.close()


async def test_timeout_while_connecting_is_unavailable_not_exhausted() -> None:
    f = FakeFactory()
    f.gate = asyncio.Event()  # the backend accepts nothing: create() hangs
    pool = make(f, max_open=16, acquire_timeout=0.05)
    with pytest.raises(UnavailableError) as ei:
        async with pool.acquire():
            pass  # pragma: no cover
    assert not isinstance(ei.value, PoolExhaustedError)
    msg = str(ei.value)
    assert "'c'" in msg and "could not open a connection within 0.05s" in msg
    assert "in use" not in msg
    s = pool.stats()
    assert s.acquire_timeouts == 1 and s.waiters == 0 and s.in_use == 0
    f.gate.set()  # the late connection is kept for the next caller
    await eventually(lambda: pool.stats().idle == 1)
    async with pool.acquire():
        pass
    await pool.close()


async def test_timeout_with_connections_lent_out_is_still_exhausted() -> None:
    f = FakeFactory()
    pool = make(f, max_open=2, acquire_timeout=0.05)
    held = pool.acquire()
    await held.__aenter__()
    f.gate = asyncio.Event()  # one slot left, and opening it hangs
    with pytest.raises(PoolExhaustedError, match="1/2 connections in use"):
        async with pool.acquire():
            pass  # pragma: no cover
    await held.__aexit__(None, None, None)
    f.gate.set()
    await pool.close(timeout=1)

"""Small helpers shared by the conformance classes: unique names, status and limit checks."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from typing import Any, NoReturn, TypeVar

import grpc
import pytest

T = TypeVar("T")


def unique(label: str) -> str:
    """A name no other test (or earlier run against the same server) has used."""
    return f"{label}-{uuid.uuid4().hex}"


def key_of_bytes(size: int, seed: str) -> str:
    """A key of exactly ``size`` UTF-8 bytes that starts with ``seed`` and is mostly 2-byte chars.

    Multi-byte characters make a plugin that counts characters instead of bytes fail.
    """
    base = len(seed.encode("utf-8"))
    if size < base:
        raise ValueError(f"seed {seed!r} is longer than {size} bytes")
    pairs, odd = divmod(size - base, 2)
    key = seed + "é" * pairs + "a" * odd
    assert len(key.encode("utf-8")) == size
    return key


def utf8_order(keys: list[str]) -> list[str]:
    """``keys`` in ascending order of their UTF-8 encoding (the contract's scan order)."""
    return sorted(keys, key=lambda k: k.encode("utf-8"))


def mentions_limit(message: str, limit: int) -> bool:
    """Whether an error message names ``limit`` (as a number, or as KiB/MiB when exact)."""
    text = message.lower().replace(" ", "")
    forms = {str(limit), f"{limit:,}", f"{limit:_}"}
    if limit % 1024 == 0:
        forms |= {f"{limit // 1024}kib", f"{limit // 1024}kb"}
    if limit % (1024 * 1024) == 0:
        forms |= {f"{limit >> 20}mib", f"{limit >> 20}mb"}
    return any(form in text for form in forms)


def fail(message: str) -> NoReturn:
    """pytest.fail, typed as never returning."""
    pytest.fail(message)


async def bounded(awaitable: Awaitable[T], timeout: float, what: str) -> T:
    """Await ``awaitable`` for at most ``timeout`` seconds, failing the test (not hanging)."""

    async def run() -> T:
        return await awaitable

    try:
        return await asyncio.wait_for(run(), timeout)
    except TimeoutError:
        fail(f"{what} did not finish within {timeout:.1f} s")


async def expect_status(awaitable: Awaitable[Any], code: Any, timeout: float, what: str) -> Any:
    """Await a gRPC call that must fail with ``code``; return the AioRpcError for more checks."""
    try:
        await bounded(awaitable, timeout, what)
    except grpc.aio.AioRpcError as err:
        if err.code() != code:
            fail(f"{what}: expected {code.name}, got {err.code().name}: {err.details()!r}")
        return err
    fail(f"{what}: expected {code.name}, but the call succeeded")

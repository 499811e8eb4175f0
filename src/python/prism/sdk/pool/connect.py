"""connect_within(): finish opening one backend connection in time, or leave nothing open."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from prism.sdk.errors import Classifier, UnavailableError, reraise_classified

C = TypeVar("C")


async def connect_within(
    handshake: Callable[[], Awaitable[C]],
    close: Callable[[], Awaitable[object]],
    timeout: float,
    target: str,
    *,
    classifiers: Sequence[Classifier] = (),
) -> C:
    """Await ``handshake()`` (connect, auth, select...) for at most ``timeout`` seconds.

    For a ConnectionFactory's ``create``. On any failure, cancellation included, ``close()``
    releases the half-open client, so no socket leaks. A handshake that does not finish in
    time raises UnavailableError ("<target>: no connection within Xs"): the backend is not
    answering, which is not the caller's deadline passing. Errors ``classifiers`` recognise
    are raised as their PrismErrors.
    """
    try:
        with reraise_classified(classifiers):
            async with asyncio.timeout(timeout):
                return await handshake()
    except BaseException as exc:
        await close()
        if isinstance(exc, TimeoutError):
            raise UnavailableError(f"{target}: no connection within {timeout:g}s") from exc
        raise

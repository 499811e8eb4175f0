"""``await execute(session, statement, params)``: a cassandra-driver request as an asyncio await.

Why a bridge: cassandra-driver has no asyncio API. Its ``execute_async`` returns a
``ResponseFuture`` whose callbacks run on the driver's own I/O thread (the libev reactor), so
each callback hands its result to the caller's event loop with ``call_soon_threadsafe``. No
thread is blocked per request (``asyncio.to_thread(session.execute)`` would hold one each),
and the driver keeps multiplexing requests on its connections.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from cassandra.cluster import ResponseFuture, Session

__all__ = ["execute"]


def _settle(done: asyncio.Future[list[Any]], rows: Any, exc: BaseException | None) -> None:
    if done.done():  # the caller gave up (cancelled): nobody wants the answer
        return
    if exc is not None:
        done.set_exception(exc)
    else:
        done.set_result(list(rows) if rows is not None else [])


async def execute(session: Session, statement: Any, params: Sequence[Any] = ()) -> list[Any]:
    """Run one statement; its rows (one page: every query here has a LIMIT below the fetch size).

    Bounded by the execution profile's ``request_timeout`` (the driver fails the future with
    OperationTimedOut), so an await never outlives a hung node.
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[list[Any]] = loop.create_future()

    def hand_over(rows: Any, exc: BaseException | None) -> None:
        try:
            loop.call_soon_threadsafe(_settle, done, rows, exc)
        except RuntimeError:  # the loop closed while the driver was answering
            pass

    future: ResponseFuture = session.execute_async(statement, params)
    future.add_callbacks(lambda rows: hand_over(rows, None), lambda exc: hand_over(None, exc))
    return await done

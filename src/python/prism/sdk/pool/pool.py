"""Pool: the asyncio connection pool (acquire/release, background upkeep, graceful close)."""

from __future__ import annotations

import asyncio
import collections
import logging
import random
import time
from collections.abc import Callable, Coroutine, Sequence
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Generic, TypeVar

from prism.sdk.errors import (
    Classifier,
    ErrorKind,
    FailedPreconditionError,
    PoolExhaustedError,
    PrismError,
    UnavailableError,
    classify,
)
from prism.sdk.pool._metrics import PoolMetrics
from prism.sdk.pool.config import ConnectionFactory, PoolConfig, enabled
from prism.sdk.pool.leak import CapturedStack, capture_stack, format_stack
from prism.sdk.pool.stats import DESTROY_CAUSES, PoolStats

C = TypeVar("C")
_Waiter = tuple[float, "asyncio.Future[_Entry[C]]"]

log = logging.getLogger("prism.sdk.pool")

_BROKEN_KINDS = frozenset({ErrorKind.UNAVAILABLE, ErrorKind.DEADLINE_EXCEEDED})


def default_is_broken(exc: BaseException, classifiers: Sequence[Classifier] = ()) -> bool:
    """Discard the connection after connection errors, timeouts and cancellation.

    A timed-out or cancelled call may have sent a request whose reply was never read; reusing
    that connection would hand the next borrower someone else's reply. ``classifiers`` are the
    plugin's (its client library's errors are often not OSErrors, e.g. redis-py's).
    """
    if isinstance(exc, asyncio.CancelledError):
        return True
    return classify(exc, classifiers).kind in _BROKEN_KINDS


_NEVER = float("inf")
_TIMER_SLACK = 0.001  # the loop may run a timer up to its clock resolution early


class _WaitTimedOut(Exception):
    """Internal: set on a waiter's future when acquire_timeout passes."""


class _Entry(Generic[C]):
    """One pooled connection plus the bookkeeping the pool needs about it."""

    __slots__ = (
        "conn",
        "created_at",
        "expires_at",
        "last_used",
        "borrowed_at",
        "stack",
        "leak_reported",
    )

    def __init__(self, conn: C, now: float, expires_at: float) -> None:
        self.conn = conn
        self.created_at = now
        self.expires_at = expires_at
        self.last_used = now
        self.borrowed_at = now
        self.stack: CapturedStack = ()
        self.leak_reported = False


class Lease(AbstractAsyncContextManager[C]):
    """What ``pool.acquire()`` returns: ``async with`` borrows, leaving the block gives back."""

    __slots__ = ("_pool", "_entry", "_stack")

    def __init__(self, pool: Pool[C], stack: CapturedStack) -> None:
        self._pool = pool
        self._entry: _Entry[C] | None = None
        self._stack = stack

    async def __aenter__(self) -> C:
        if self._entry is not None:
            raise RuntimeError("a Lease can only be entered once at a time")
        pool = self._pool
        entry = None if pool._validate_on_borrow else pool._take_idle()
        if entry is None:
            entry = await pool._acquire()
        else:
            pool._acquires += 1
        entry.stack = self._stack
        self._entry = entry
        return entry.conn

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        entry, self._entry = self._entry, None
        if entry is None:
            return
        broken = False
        if exc is not None:
            try:
                broken = self._pool._is_broken(exc)
            except Exception:  # noqa: BLE001 - a faulty predicate must not leak the conn
                log.exception(
                    "pool %r: is_broken raised; discarding the connection", self._pool.name
                )
                broken = True
        self._pool._release(entry, broken)


class Pool(Generic[C]):
    """A bounded asyncio pool of backend connections.

    ``async with pool.acquire() as conn:`` borrows a connection (waiting FIFO, up to
    ``acquire_timeout``, when ``max_open`` are lent out) and gives it back on exit; an
    exception for which ``is_broken`` is true discards it instead (default: it classifies,
    with the plugin's ``classifiers``, as UNAVAILABLE or DEADLINE_EXCEEDED; the same
    classifiers turn a failing ``factory.create()`` into the error acquirers see). An acquire
    that times out raises PoolExhaustedError when all ``max_open`` connections are lent out,
    but UnavailableError when none is lent and connections are still being opened (the
    backend is not answering: more connections would not help). Background upkeep (started
    by ``start()`` or the first acquire) keeps ``min_idle`` ready, retires connections past
    their jittered lifetime or idle timeout, validates idle ones every ``health_interval`` and
    warns about connections held longer than ``leak_threshold``.
    """

    def __init__(
        self,
        factory: ConnectionFactory[C],
        config: PoolConfig = PoolConfig(),  # noqa: B008 - frozen dataclass, safe default
        *,
        name: str = "pool",
        is_broken: Callable[[BaseException], bool] | None = None,
        classifiers: Sequence[Classifier] = (),
    ) -> None:
        self._factory = factory
        self._config = config
        self._name = name
        self._classifiers = tuple(classifiers)
        self._is_broken = is_broken if is_broken is not None else self._default_is_broken
        self._idle: collections.deque[_Entry[C]] = collections.deque()
        self._in_use: set[_Entry[C]] = set()
        # (deadline, future) in arrival order; one timeout is shared by all, so deadlines are
        # ascending and a single timer (for the head) expires them all.
        self._waiters: collections.deque[_Waiter[C]] = collections.deque()
        self._timer: asyncio.TimerHandle | None = None
        self._open = 0  # established connections: idle + in use + being health-checked
        self._creating = 0
        self._closed = False
        self._started = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._maintenance: asyncio.Task[None] | None = None
        self._drained: asyncio.Event | None = None
        self._refill_after = 0.0
        self._next_health = 0.0
        self._track_leaks = enabled(config.leak_threshold)
        self._validate_on_borrow = config.validate_on_borrow
        # counters
        self._acquires = 0
        self._timeouts = 0
        self._wait_total = 0.0
        self._wait_max = 0.0
        self._created = 0
        self._create_failures = 0
        self._destroyed = dict.fromkeys(DESTROY_CAUSES, 0)
        self._metrics = PoolMetrics(name, self)
        timers = [
            t
            for t in (config.idle_timeout, config.health_interval, config.leak_threshold)
            if t is not None and t > 0
        ]
        if enabled(config.max_lifetime):
            timers.append(config.max_lifetime * (1.0 - config.lifetime_jitter))
        self._tick = max(0.005, min([1.0, *[t / 2 for t in timers]]))

    # ------------------------------------------------------------------ public API

    def _default_is_broken(self, exc: BaseException) -> bool:
        return default_is_broken(exc, self._classifiers)

    @property
    def name(self) -> str:
        return self._name

    @property
    def config(self) -> PoolConfig:
        return self._config

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def busy_fraction(self) -> float:
        """in_use / max_open, for load shedding and dashboards."""
        return len(self._in_use) / self._config.max_open

    async def start(self) -> None:
        """Start background upkeep and begin filling ``min_idle`` (does not wait for it)."""
        if self._closed:
            raise FailedPreconditionError(f"pool {self._name!r} closed")
        self._start_background()

    def acquire(self) -> Lease[C]:
        """Borrow a connection: ``async with pool.acquire() as conn: ...``.

        Raises PoolExhaustedError after ``acquire_timeout`` with every connection lent out,
        UnavailableError after ``acquire_timeout`` if instead a connection could not be opened
        in that time, FailedPreconditionError once the pool is closed, or the classified error
        (e.g. UnavailableError) if creating a connection for this caller failed.
        """
        return Lease(self, capture_stack(1) if self._track_leaks else ())

    def stats(self) -> PoolStats:
        return PoolStats(
            open=self._open,
            idle=len(self._idle),
            in_use=len(self._in_use),
            waiters=len(self._waiters),
            acquires=self._acquires,
            acquire_timeouts=self._timeouts,
            wait_seconds_total=self._wait_total,
            wait_seconds_max=self._wait_max,
            created=self._created,
            destroyed_by_cause=dict(self._destroyed),
            pending_creates=self._creating,
            create_failures=self._create_failures,
            max_open=self._config.max_open,
            name=self._name,
        )

    def fail_waiters(self, error: Callable[[], PrismError]) -> int:
        """Fail every caller now waiting for a connection with a fresh ``error()``; how many.

        For a backend known to be failing (its breaker opened): those callers would otherwise
        wait out ``acquire_timeout`` behind failing calls and get PoolExhaustedError, a
        capacity error, for a backend that is down.
        """
        failed = 0
        while self._waiters:
            _, fut = self._waiters.popleft()
            if not fut.done():
                fut.set_exception(error())
                failed += 1
        return failed

    async def close(self, timeout: float | None = None) -> None:
        """Stop new acquires, wait up to ``timeout`` for lent connections, close everything.

        Waiting acquirers fail with FailedPreconditionError. Connections still lent out when
        the timeout passes are closed as soon as they are given back.
        """
        if self._closed:
            return
        self._closed = True
        self._drained = asyncio.Event()
        closed_err = f"pool {self._name!r} closed"
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._waiters:
            _, fut = self._waiters.popleft()
            if not fut.done():
                fut.set_exception(FailedPreconditionError(closed_err))
        if self._maintenance is not None:
            self._maintenance.cancel()
            try:
                await self._maintenance
            except asyncio.CancelledError:
                pass
        while self._idle:
            self._destroy(self._idle.popleft(), "close")
        self._check_drained()
        try:
            async with asyncio.timeout(timeout):
                await self._drained.wait()
        except TimeoutError:
            log.warning(
                "pool %r: close timed out after %ss with %d connection(s) still in use; "
                "they will be closed when returned",
                self._name,
                timeout,
                len(self._in_use),
            )
        # Creations still running (only possible after a timeout) are abandoned.
        pending = list(self._tasks)
        for task in pending:
            if not task.done() and task.get_name() == "prism-pool-create":
                task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        self._metrics.sync_acquires(self._acquires)
        self._metrics.unregister()

    async def __aenter__(self) -> Pool[C]:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ------------------------------------------------------------------ acquire / release

    def _take_idle(self) -> _Entry[C] | None:
        """Fast path: lend an idle connection if nobody is queued ahead of us (FIFO)."""
        if self._closed:
            raise FailedPreconditionError(f"pool {self._name!r} closed")
        if not self._started:
            self._start_background()
        while self._idle and not self._waiters:
            entry = self._idle.pop()  # LIFO: keep hot connections hot, let extras idle out
            now = time.monotonic()
            if entry.expires_at <= now:
                self._destroy(entry, "lifetime")
                self._replenish()
                continue
            self._lend(entry, now)
            if len(self._idle) < self._config.min_idle:
                self._refill()
            return entry
        return None

    async def _acquire(self) -> _Entry[C]:
        while True:
            entry = self._take_idle()
            if entry is None:
                return await self._wait_for_connection()
            if not self._config.validate_on_borrow or await self._borrow_check(entry):
                self._acquires += 1
                return entry

    async def _borrow_check(self, entry: _Entry[C]) -> bool:
        """Validate an idle connection before lending it; on failure discard it."""
        try:
            ok = await self._validate(entry)
        except asyncio.CancelledError:
            self._release(entry, broken=True)
            raise
        if not ok:
            self._in_use.discard(entry)
            self._destroy(entry, "validation")
            self._replenish()
        return ok

    async def _wait_for_connection(self) -> _Entry[C]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[_Entry[C]] = loop.create_future()
        started = loop.time()
        timeout = self._config.acquire_timeout
        waiter = (started + timeout if timeout is not None else _NEVER, fut)
        self._waiters.append(waiter)
        if self._timer is None and timeout is not None:
            self._timer = loop.call_at(waiter[0], self._expire_waiters)
        self._spawn_for_waiters()
        try:
            entry = await fut
        except _WaitTimedOut:
            waited = loop.time() - started
            self._record_wait(waited)
            self._timeouts += 1
            self._metrics.timeouts.inc()
            if self._creating and not self._in_use:
                # Nothing is lent out: we waited on a connection being opened, not on others.
                raise UnavailableError(
                    f"pool {self._name!r}: could not open a connection within {timeout:g}s "
                    f"({self._creating} still being opened)"
                ) from None
            raise PoolExhaustedError(
                f"pool {self._name!r} exhausted: {len(self._in_use)}/"
                f"{self._config.max_open} connections in use, waited {waited:.3f}s "
                f"({len(self._waiters)} still waiting)"
            ) from None
        except BaseException:
            self._record_wait(loop.time() - started)
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                self._release(fut.result(), broken=False)  # cancelled after hand-over: pass on
            else:
                self._forget_waiter(waiter)
            raise
        self._record_wait(loop.time() - started)
        self._acquires += 1
        return entry

    def _expire_waiters(self) -> None:
        """Timer callback: fail every waiter whose deadline passed, re-arm for the next one.

        A hand-over and the timeout can never race: both run on the loop thread and
        whichever completes the future first wins.
        """
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time() + _TIMER_SLACK
        waiters = self._waiters
        while waiters and waiters[0][0] <= now:
            _, fut = waiters.popleft()
            if not fut.done():
                fut.set_exception(_WaitTimedOut())
        if waiters and waiters[0][0] != _NEVER:
            self._timer = loop.call_at(waiters[0][0], self._expire_waiters)

    def _forget_waiter(self, waiter: _Waiter[C]) -> None:
        try:
            self._waiters.remove(waiter)
        except ValueError:
            pass
        else:
            self._spawn_for_waiters()  # our departure may have freed a creation slot

    def _record_wait(self, waited: float) -> None:
        self._wait_total += waited
        if waited > self._wait_max:
            self._wait_max = waited

    def _lend(self, entry: _Entry[C], now: float | None = None) -> None:
        entry.borrowed_at = time.monotonic() if now is None else now
        entry.leak_reported = False
        self._in_use.add(entry)

    def _release(self, entry: _Entry[C], broken: bool) -> None:
        """Give a connection back: to the first waiter, to idle, or to be closed."""
        if entry not in self._in_use:
            return
        self._in_use.remove(entry)
        entry.stack = ()
        if entry.leak_reported:
            log.warning(
                "pool %r: connection reported as leaked was returned after %.1fs",
                self._name,
                time.monotonic() - entry.borrowed_at,
            )
        if self._closed:
            self._destroy(entry, "close")
            self._check_drained()
        elif broken:
            self._destroy(entry, "broken")
            self._replenish()
        elif entry.expires_at <= time.monotonic():
            self._destroy(entry, "lifetime")
            self._replenish()
        else:
            self._deliver(entry)

    def _deliver(self, entry: _Entry[C]) -> None:
        """Hand a usable connection to the longest-waiting acquirer, else park it idle."""
        while self._waiters:
            _, fut = self._waiters.popleft()
            if not fut.done():
                self._lend(entry)
                fut.set_result(entry)
                return
        entry.last_used = time.monotonic()
        self._idle.append(entry)

    # ------------------------------------------------------------------ create / destroy

    def _spawn_for_waiters(self) -> None:
        if self._closed:
            return
        while (
            len(self._waiters) > self._creating
            and self._open + self._creating < self._config.max_open
        ):
            self._spawn_create()

    def _refill(self) -> None:
        if self._closed or time.monotonic() < self._refill_after:
            return
        while (
            len(self._idle) + self._creating < self._config.min_idle
            and self._open + self._creating < self._config.max_open
        ):
            self._spawn_create()

    def _replenish(self) -> None:
        self._spawn_for_waiters()
        self._refill()

    def _spawn_create(self) -> None:
        self._creating += 1
        self._track(self._create_one(), "prism-pool-create")

    def _track(self, coro: Coroutine[object, object, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _create_one(self) -> None:
        try:
            conn = await self._factory.create()
        except Exception as exc:  # noqa: BLE001 - classified and handed to a waiter
            self._creating -= 1
            self._create_failures += 1
            self._create_failed(classify(exc, self._classifiers), exc)
            return
        except BaseException:
            self._creating -= 1
            self._check_drained()
            raise
        self._creating -= 1
        self._open += 1
        self._created += 1
        self._metrics.created.inc()
        now = time.monotonic()
        entry = _Entry(conn, now, self._expiry(now))
        if self._closed:
            self._destroy(entry, "close")
            self._check_drained()
        else:
            self._deliver(entry)

    def _create_failed(self, err: PrismError, exc: Exception) -> None:
        """Fail the longest waiter with the classified error; back off background refills."""
        while self._waiters:
            _, fut = self._waiters.popleft()
            if not fut.done():
                fut.set_exception(err)
                break
        else:
            log.warning("pool %r: creating a connection failed: %r", self._name, exc)
            self._refill_after = time.monotonic() + self._tick
        self._check_drained()
        if not self._closed:
            self._spawn_for_waiters()

    def _expiry(self, now: float) -> float:
        lifetime = self._config.max_lifetime
        if not enabled(lifetime):
            return float("inf")
        return now + lifetime * (1.0 - self._config.lifetime_jitter * random.random())

    def _destroy(self, entry: _Entry[C], cause: str) -> None:
        """Forget a connection now and close it in the background."""
        self._open -= 1
        self._destroyed[cause] += 1
        self._metrics.destroyed(cause)
        self._track(self._close_conn(entry.conn), "prism-pool-close")

    async def _close_conn(self, conn: C) -> None:
        try:
            await self._factory.close(conn)
        except Exception as exc:  # noqa: BLE001 - nothing to do but report it
            log.warning("pool %r: closing a connection failed: %r", self._name, exc)

    async def _validate(self, entry: _Entry[C]) -> bool:
        try:
            async with asyncio.timeout(self._config.acquire_timeout):
                return await self._factory.validate(entry.conn)
        except Exception as exc:  # noqa: BLE001 - a failed probe means a bad connection
            log.debug("pool %r: validation failed: %r", self._name, exc)
            return False

    def _check_drained(self) -> None:
        if self._drained is not None and not self._in_use and self._creating == 0:
            self._drained.set()

    # ------------------------------------------------------------------ background upkeep

    def _start_background(self) -> None:
        if self._started:
            return
        self._started = True
        interval = self._config.health_interval
        self._next_health = time.monotonic() + (interval if enabled(interval) else 0.0)
        self._maintenance = asyncio.get_running_loop().create_task(
            self._maintain(), name=f"prism-pool-{self._name}"
        )
        self._refill()

    async def _maintain(self) -> None:
        while True:
            await asyncio.sleep(self._tick)
            try:
                await self.run_maintenance()
            except asyncio.CancelledError:
                raise
            except Exception:  # pragma: no cover - defensive: upkeep must never die
                log.exception("pool %r: maintenance failed", self._name)

    async def run_maintenance(self) -> None:
        """One upkeep pass (the background loop calls this every tick; tests may call it)."""
        now = time.monotonic()
        self._metrics.sync_acquires(self._acquires)
        self._reap(now)
        self._check_leaks(now)
        self._refill()
        interval = self._config.health_interval
        if enabled(interval) and now >= self._next_health:
            self._next_health = now + interval
            await self._health_check()

    def _reap(self, now: float) -> None:
        """Retire idle connections past their lifetime, or idle too long above min_idle."""
        idle_timeout = self._config.idle_timeout
        keep: collections.deque[_Entry[C]] = collections.deque()
        surplus = len(self._idle) - self._config.min_idle
        reaped = False
        for entry in self._idle:  # oldest-returned first
            if entry.expires_at <= now:
                self._destroy(entry, "lifetime")
                surplus -= 1
                reaped = True
            elif (
                surplus > 0
                and idle_timeout is not None
                and idle_timeout > 0
                and now - entry.last_used >= idle_timeout
            ):
                self._destroy(entry, "idle")
                surplus -= 1
                reaped = True
            else:
                keep.append(entry)
        if reaped:
            self._idle = keep
            self._replenish()

    def _check_leaks(self, now: float) -> None:
        threshold = self._config.leak_threshold
        if threshold is None or threshold <= 0:
            return
        for entry in self._in_use:
            held = now - entry.borrowed_at
            if not entry.leak_reported and held >= threshold:
                entry.leak_reported = True
                log.warning(
                    "pool %r: connection held for %.1fs (leak_threshold %ss); possible leak. "
                    "Borrowed at:\n%s",
                    self._name,
                    held,
                    threshold,
                    format_stack(entry.stack) or "  <unknown>\n",
                )

    async def _health_check(self) -> None:
        """Validate idle connections one at a time, so the rest stay available meanwhile."""
        for entry in list(self._idle):
            try:
                self._idle.remove(entry)
            except ValueError:
                continue  # borrowed or reaped since the snapshot
            try:
                ok = await self._validate(entry)
            except asyncio.CancelledError:
                self._destroy(entry, "close" if self._closed else "broken")
                raise
            if self._closed:
                self._destroy(entry, "close")
            elif ok:
                self._deliver(entry)
            else:
                self._destroy(entry, "validation")
                self._replenish()

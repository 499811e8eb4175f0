"""PrismError hierarchy: statuses, retryability, and classify()'s mapping rules."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from prism.sdk.errors import (
    AlreadyExistsError,
    CircuitOpenError,
    DeadlineExceededError,
    ErrorKind,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    PermanentError,
    PoolExhaustedError,
    PrismError,
    RequestCancelledError,
    ResourceExhaustedError,
    UnavailableError,
    classify,
    error_for_status,
)

EXPECTED: list[tuple[type[PrismError], ErrorKind, grpc.StatusCode, bool]] = [
    (NotFoundError, ErrorKind.NOT_FOUND, grpc.StatusCode.NOT_FOUND, False),
    (InvalidArgumentError, ErrorKind.INVALID_ARGUMENT, grpc.StatusCode.INVALID_ARGUMENT, False),
    (AlreadyExistsError, ErrorKind.ALREADY_EXISTS, grpc.StatusCode.ALREADY_EXISTS, False),
    (
        FailedPreconditionError,
        ErrorKind.FAILED_PRECONDITION,
        grpc.StatusCode.FAILED_PRECONDITION,
        False,
    ),
    (
        ResourceExhaustedError,
        ErrorKind.RESOURCE_EXHAUSTED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        False,
    ),
    (UnavailableError, ErrorKind.UNAVAILABLE, grpc.StatusCode.UNAVAILABLE, True),
    (DeadlineExceededError, ErrorKind.DEADLINE_EXCEEDED, grpc.StatusCode.DEADLINE_EXCEEDED, True),
    (RequestCancelledError, ErrorKind.CANCELLED, grpc.StatusCode.CANCELLED, False),
    (PermanentError, ErrorKind.PERMANENT, grpc.StatusCode.INTERNAL, False),
    (PoolExhaustedError, ErrorKind.RESOURCE_EXHAUSTED, grpc.StatusCode.RESOURCE_EXHAUSTED, False),
]


@pytest.mark.parametrize(("cls", "kind", "status", "retryable"), EXPECTED)
def test_every_error_has_kind_status_and_retryability(
    cls: type[PrismError], kind: ErrorKind, status: grpc.StatusCode, retryable: bool
) -> None:
    err = cls("boom")
    assert err.kind is kind
    assert err.grpc_status is status
    assert kind.grpc_status is status
    assert err.retryable is retryable
    assert err.message == "boom"
    assert str(err) == "boom"
    assert repr(err) == f"{cls.__name__}('boom')"
    assert isinstance(err, PrismError)


def test_permanent_is_internal_alias() -> None:
    assert ErrorKind["INTERNAL"] is ErrorKind.PERMANENT
    assert PrismError("x").grpc_status is grpc.StatusCode.INTERNAL


def test_default_messages() -> None:
    assert DeadlineExceededError().message == "timeout"
    assert PermanentError().message == "internal error"
    assert PoolExhaustedError().message == "connection pool exhausted"


def test_circuit_open_error_names_breaker_and_retry_time() -> None:
    err = CircuitOpenError("redis", 2.5)
    assert isinstance(err, UnavailableError)
    assert err.retryable
    assert err.grpc_status is grpc.StatusCode.UNAVAILABLE
    assert err.breaker == "redis"
    assert err.retry_after == 2.5
    assert "'redis'" in err.message and "2.50s" in err.message
    assert CircuitOpenError("x", -1.0).retry_after == 0.0


def test_pool_exhausted_is_resource_exhausted() -> None:
    err = PoolExhaustedError("no connection within 5s")
    assert isinstance(err, ResourceExhaustedError)
    assert not err.retryable


def test_classify_returns_prism_errors_unchanged() -> None:
    err = NotFoundError("k")
    assert classify(err) is err
    # even when a classifier would say otherwise
    assert classify(err, [lambda e: UnavailableError()]) is err


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (TimeoutError(), DeadlineExceededError),
        (TimeoutError("slow"), DeadlineExceededError),
        (ConnectionRefusedError("refused"), UnavailableError),
        (ConnectionResetError(), UnavailableError),
        (OSError("network down"), UnavailableError),
        (asyncio.CancelledError(), RequestCancelledError),
        (ValueError("bug"), PermanentError),
        (KeyError("k"), PermanentError),
        (RuntimeError(), PermanentError),
    ],
)
def test_classify_maps_builtins(exc: BaseException, expected: type[PrismError]) -> None:
    err = classify(exc)
    assert type(err) is expected
    assert err.__cause__ is exc


def test_classify_keeps_message_of_os_errors_and_hides_unknown_ones() -> None:
    assert classify(ConnectionRefusedError("refused")).message == "refused"
    assert classify(TimeoutError()).message == "timeout"
    assert classify(ValueError("secret detail")).message == "internal error"


class _BackendDown(Exception):
    pass


def test_plugin_classifiers_are_tried_first_in_order() -> None:
    calls: list[str] = []

    def first(exc: BaseException) -> PrismError | None:
        calls.append("first")
        return None

    def second(exc: BaseException) -> PrismError | None:
        calls.append("second")
        return UnavailableError("backend down") if isinstance(exc, _BackendDown) else None

    def third(exc: BaseException) -> PrismError | None:
        calls.append("third")
        return NotFoundError()

    exc = _BackendDown()
    err = classify(exc, [first, second, third])
    assert isinstance(err, UnavailableError) and err.message == "backend down"
    assert err.__cause__ is exc
    assert calls == ["first", "second"]


def test_plugin_classifier_overrides_builtin_rule() -> None:
    err = classify(TimeoutError(), [lambda e: ResourceExhaustedError("busy")])
    assert isinstance(err, ResourceExhaustedError)


def test_classifier_returning_error_with_cause_keeps_it() -> None:
    original = RuntimeError("inner")
    mapped = UnavailableError("x")
    mapped.__cause__ = original
    assert classify(ValueError(), [lambda e: mapped]).__cause__ is original


class _FakeRpcError(grpc.RpcError):  # type: ignore[misc]
    def __init__(self, code: grpc.StatusCode, details: str | None) -> None:
        self._code = code
        self._details = details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str | None:
        return self._details


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (grpc.StatusCode.NOT_FOUND, NotFoundError),
        (grpc.StatusCode.UNAVAILABLE, UnavailableError),
        (grpc.StatusCode.DEADLINE_EXCEEDED, DeadlineExceededError),
        (grpc.StatusCode.OUT_OF_RANGE, InvalidArgumentError),
        (grpc.StatusCode.INTERNAL, PermanentError),
        (grpc.StatusCode.UNKNOWN, PermanentError),
    ],
)
def test_classify_grpc_errors_by_status(code: grpc.StatusCode, expected: type[PrismError]) -> None:
    err = classify(_FakeRpcError(code, "details here"))
    assert type(err) is expected
    assert err.message == "details here"


def test_classify_grpc_error_without_details_or_code() -> None:
    assert classify(_FakeRpcError(grpc.StatusCode.NOT_FOUND, None)).message == "not found"
    assert type(classify(grpc.RpcError())) is PermanentError


def test_error_for_status() -> None:
    err = error_for_status(grpc.StatusCode.ALREADY_EXISTS, "dup")
    assert isinstance(err, AlreadyExistsError) and err.message == "dup"
    assert isinstance(error_for_status(grpc.StatusCode.DATA_LOSS), PermanentError)


async def test_cancelled_error_not_cancelling_the_task_is_unavailable() -> None:
    """A client library's own cancelled future (e.g. nats-py's PONG on a dropped connection)."""
    inner: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    inner.cancel()
    with pytest.raises(asyncio.CancelledError) as info:
        await inner
    err = classify(info.value)
    assert type(err) is UnavailableError and err.retryable
    assert err.__cause__ is info.value


async def test_cancelled_error_of_a_cancelled_task_stays_a_cancel() -> None:
    seen: list[PrismError] = []

    async def victim() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError as exc:
            seen.append(classify(exc))
            raise

    task = asyncio.create_task(victim())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [type(e) for e in seen] == [RequestCancelledError]

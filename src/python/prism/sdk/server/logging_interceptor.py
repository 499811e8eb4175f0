"""Structured access log: one line per RPC with request id, method, status and latency.

Every plugin gets the same access log without writing any logging code. The line's fields are
attached to the record as ``record.prism`` so :class:`~prism.sdk.server.log_format.JsonFormatter`
emits them as top-level JSON keys when ``log_format=json``; with the text format they are in
the message as ``key=value`` pairs, greppable either way.
"""

from __future__ import annotations

import contextvars
import logging
import time
from typing import Any, NamedTuple

import grpc

from prism.sdk.server.request_id import (
    request_id_from_context,
    reset_request_id,
    set_request_id,
)
from prism.sdk.server.wrapping import ObservingInterceptor

ACCESS_LOGGER = "prism.access"
# Probes and tooling call these constantly; their successful calls are logged at DEBUG only.
QUIET_SERVICES = (
    "grpc.health.v1.Health",
    "grpc.reflection.v1alpha.ServerReflection",
    "grpc.reflection.v1.ServerReflection",
)
# The caller's own fault: logged at INFO; any other non-OK code is WARNING.
CLIENT_CODES = frozenset(
    {
        grpc.StatusCode.OK,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.CANCELLED,
    }
)


class _CallState(NamedTuple):
    request_id: str
    token: contextvars.Token[str | None]
    start: float


class LoggingInterceptor(ObservingInterceptor[_CallState]):
    """Logs each finished RPC; sets the request id every inner interceptor and handler sees.

    Must be the outermost SDK interceptor so it sees the final status code and the full latency.
    """

    def __init__(
        self,
        logger: logging.Logger | None = None,
        quiet_services: tuple[str, ...] = QUIET_SERVICES,
    ) -> None:
        super().__init__()
        self._log = logger or logging.getLogger(ACCESS_LOGGER)
        self._quiet = tuple(f"/{s}/" for s in quiet_services)

    def begin(self, method: str, context: grpc.aio.ServicerContext) -> _CallState:
        request_id = request_id_from_context(context)
        return _CallState(request_id, set_request_id(request_id), time.perf_counter())

    def finish(
        self, method: str, state: _CallState, code: grpc.StatusCode, messages: int | None
    ) -> None:
        self._emit(state.request_id, method, code, state.start, messages)
        reset_request_id(state.token)

    def _emit(
        self,
        request_id: str,
        method: str,
        code: grpc.StatusCode,
        start: float,
        messages: int | None,
    ) -> None:
        if code is grpc.StatusCode.OK and method.startswith(self._quiet):
            level = logging.DEBUG
        elif code in CLIENT_CODES:
            level = logging.INFO
        else:
            level = logging.WARNING
        if not self._log.isEnabledFor(level):
            return
        latency_ms = round((time.perf_counter() - start) * 1000.0, 3)
        fields: dict[str, Any] = {
            "request_id": request_id,
            "method": method,
            "code": code.name,
            "latency_ms": latency_ms,
        }
        if messages is not None:
            fields["messages"] = messages
        text = " ".join(f"{k}={v}" for k, v in fields.items())
        self._log.log(level, "rpc %s", text, extra={"prism": fields})

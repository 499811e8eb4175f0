"""Structured access log: which finished calls get a line, and the line itself.

A gateway serving thousands of calls per second cannot afford a formatted, written log record
per call (it cost more CPU than the call), so the default is: every failed call and every slow
call is logged, plus one in ``every`` of the fast successful ones (``every=1`` logs them all:
the plugin's ``--access-log`` flag / ``access_log_every`` setting). The line's fields are
attached to the record as ``record.prism`` so
:class:`~prism.sdk.server.log_format.JsonFormatter` emits them as top-level JSON keys; with the
text format they are in the message as ``key=value`` pairs, greppable either way.
"""

from __future__ import annotations

import logging
from typing import Any

import grpc

from prism.sdk.server.request_id import current_request_id

ACCESS_LOGGER = "prism.access"
DEFAULT_EVERY = 100
DEFAULT_SLOW_SECONDS = 0.1
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


class AccessLog:
    """Logs finished calls: all errors and slow calls, one in ``every`` of the others.

    ``every=0`` logs no fast successful call; ``slow_seconds`` is the latency from which a
    successful call counts as slow.
    """

    def __init__(
        self,
        logger: logging.Logger | None = None,
        *,
        every: int = DEFAULT_EVERY,
        slow_seconds: float = DEFAULT_SLOW_SECONDS,
        quiet_services: tuple[str, ...] = QUIET_SERVICES,
    ) -> None:
        self._log = logger or logging.getLogger(ACCESS_LOGGER)
        self._quiet = tuple(f"/{s}/" for s in quiet_services)
        self.configure(every=every, slow_seconds=slow_seconds)

    def configure(self, *, every: int, slow_seconds: float) -> None:
        """Change the policy (a managed plugin's settings may change at Initialize)."""
        if every < 0:
            raise ValueError(f"every must be >= 0, got {every}")
        self._every = every
        self._slow = slow_seconds
        self._skipped = 0

    def is_quiet(self, method: str) -> bool:
        """Whether ``method``'s successful calls are logged at DEBUG (probes, tooling)."""
        return method.startswith(self._quiet)

    def finish(
        self,
        method: str,
        quiet: bool,
        code: grpc.StatusCode,
        seconds: float,
        messages: int | None,
    ) -> None:
        """Note a finished call (runs on every call: the common case returns early).

        Runs while the call is still current, so the request id is only worked out for the
        calls that get a line.
        """
        if code is grpc.StatusCode.OK and seconds < self._slow:
            if self._every != 1:
                if self._every == 0:
                    return
                self._skipped += 1
                if self._skipped < self._every:
                    return
                self._skipped = 0
            level = logging.DEBUG if quiet else logging.INFO
        elif code in CLIENT_CODES:
            level = logging.INFO
        else:
            level = logging.WARNING
        if not self._log.isEnabledFor(level):
            return
        fields: dict[str, Any] = {
            "request_id": current_request_id(),
            "method": method,
            "code": code.name,
            "latency_ms": round(seconds * 1000.0, 3),
        }
        if messages is not None:
            fields["messages"] = messages
        text = " ".join(f"{k}={v}" for k, v in fields.items())
        self._log.log(level, "rpc %s", text, extra={"prism": fields})

"""Error standardisation: exceptions become the contract's status codes, never tracebacks.

Servicers just raise :class:`~prism.sdk.errors.PrismError` subclasses (or let backend errors
escape); :meth:`ErrorMapper.abort` turns them into ``context.abort(status, message)``. Anything
that is not a PrismError (after the plugin's own classifiers had a go) is a bug or an unknown
backend failure: the client gets INTERNAL ``internal error (request id X)`` and the traceback
goes to the server log under the same id, so internals never leak but the failure is still
traceable. Only failed calls reach this code.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import NoReturn

import grpc

from prism.sdk.errors import Classifier, PrismError
from prism.sdk.server.request_id import current_request_id, new_request_id

ERROR_LOGGER = "prism.errors"


class ErrorMapper:
    """Maps an exception escaping a handler to a gRPC status (see module docstring)."""

    def __init__(
        self,
        classifiers: Sequence[Classifier] = (),
        logger: logging.Logger | None = None,
    ) -> None:
        self._classifiers = tuple(classifiers)
        self._log = logger or logging.getLogger(ERROR_LOGGER)

    def to_prism_error(self, exc: Exception) -> PrismError | None:
        """The PrismError for ``exc``: itself, or a plugin classifier's verdict, else None."""
        if isinstance(exc, PrismError):
            return exc
        for classifier in self._classifiers:
            mapped = classifier(exc)
            if mapped is not None:
                return mapped
        return None

    async def abort(
        self, method: str, exc: Exception, context: grpc.aio.ServicerContext
    ) -> NoReturn:
        """End the call with ``exc``'s status (raises grpc.aio.AbortError)."""
        error = self.to_prism_error(exc)
        if error is not None:
            await context.abort(error.grpc_status, error.message)
        if isinstance(exc, NotImplementedError) and context.code() is grpc.StatusCode.UNIMPLEMENTED:
            # A generated servicer base method the plugin did not override: not a bug.
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{method} is not implemented")
        request_id = current_request_id() or new_request_id()
        self._log.error(
            "unhandled exception in %s (request id %s)",
            method,
            request_id,
            exc_info=exc,
            extra={"prism": {"request_id": request_id, "method": method}},
        )
        await context.abort(grpc.StatusCode.INTERNAL, f"internal error (request id {request_id})")
        raise AssertionError("context.abort returned")  # pragma: no cover

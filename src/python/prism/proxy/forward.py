"""The forwarding handlers: route each call by namespace and pass raw bytes through.

One ``GenericRpcHandler`` per contract service, with no (de)serializers: the request arrives
as bytes, :func:`~prism.proxy.wire.read_namespace` reads field 1 from them, and the same bytes
go to the upstream through a pre-built identity-serializing multi-callable; the reply bytes
come back unchanged. Streams are relayed item by item, awaiting each write (so a slow client
slows the upstream down instead of the proxy buffering), after forwarding the upstream's
initial metadata (Subscribe signals readiness that way); when the client goes away the
handler is cancelled and cancels the upstream call. The client's deadline and metadata (e.g.
``x-request-id``) go upstream; upstream errors come back with the same code and details.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import grpc

from prism.proxy._wrapping import MethodWrapper
from prism.proxy.contract import ContractMethod
from prism.proxy.upstream import Upstream
from prism.proxy.wire import WireError, read_namespace
from prism.sdk.errors import CircuitOpenError, InvalidArgumentError, UnavailableError
from prism.sdk.limits import quoted, validate_name
from prism.sdk.resilience import BreakerState

# Headers gRPC sets itself (forwarding them would be rejected or wrong), and the caller's
# credentials: they end at the gateway, so a plugin never holds a caller's bearer token (and
# a secured call does not carry it over a second hop).
_NOT_FORWARDED = frozenset(
    {"user-agent", "content-type", "te", "host", "grpc-timeout", "authorization"}
)
_MAX_KNOWN_IN_MESSAGE = 10


class Reject(Exception):
    """A call the proxy answers itself (unknown namespace, plugin down...)."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


def request_namespace(request: bytes) -> str:
    """The request's namespace; :class:`Reject` (INVALID_ARGUMENT) for malformed bytes."""
    try:
        return read_namespace(request)
    except WireError as exc:
        raise Reject(grpc.StatusCode.INVALID_ARGUMENT, f"malformed request: {exc}") from exc


def check_namespace(namespace: str) -> None:
    """:class:`Reject` (INVALID_ARGUMENT, naming the fault) unless ``namespace`` is a valid name."""
    try:
        validate_name("namespace", namespace)
    except InvalidArgumentError as exc:
        raise Reject(grpc.StatusCode.INVALID_ARGUMENT, exc.message) from exc


class Router:
    """namespace -> Upstream, plus the checks that make a bad call fail fast."""

    def __init__(self, routes: Mapping[str, Upstream]) -> None:
        self.routes: dict[str, Upstream] = dict(routes)
        known = sorted(self.routes)
        shown = ", ".join(known[:_MAX_KNOWN_IN_MESSAGE])
        if len(known) > _MAX_KNOWN_IN_MESSAGE:
            shown += ", ..."
        self._known = shown

    def resolve(self, request: bytes, service: str) -> Upstream:
        """The upstream for ``request``; raises :class:`Reject` when the proxy must answer."""
        namespace = request_namespace(request)
        upstream = self.routes.get(namespace)
        if upstream is None:
            check_namespace(namespace)  # configured names are valid: only a miss pays for this
            raise Reject(
                grpc.StatusCode.NOT_FOUND,
                f"namespace {quoted(namespace)} is not configured on this proxy "
                f"(known: {self._known})",
            )
        if not upstream.routable:
            raise Reject(
                grpc.StatusCode.UNAVAILABLE,
                f"namespace {namespace!r}: plugin {upstream.label} (instance {upstream.name}) "
                f"is unavailable: {upstream.reason}",
            )
        if upstream.interfaces is not None and service not in upstream.interfaces:
            raise Reject(
                grpc.StatusCode.UNIMPLEMENTED,
                f"namespace {namespace!r}: plugin {upstream.label} does not serve {service} "
                f"(it serves {', '.join(sorted(upstream.interfaces)) or 'nothing'})",
            )
        return upstream


def outgoing_metadata(context: grpc.aio.ServicerContext) -> tuple[tuple[str, Any], ...]:
    """The caller's metadata minus what gRPC sets itself and the caller's credentials."""
    return tuple(
        (key, value)
        for key, value in context.invocation_metadata() or ()
        if key not in _NOT_FORWARDED and not key.startswith((":", "grpc-"))
    )


def _unary(method: ContractMethod, router: Router) -> Callable[..., Any]:
    path, service = method.path, method.service

    async def forward(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        call: Any = None

        def start() -> Any:
            # Creating a grpc.aio call sends it, so this runs only once the breaker admitted it.
            nonlocal call
            call = upstream.unary[path](
                request, timeout=context.time_remaining(), metadata=outgoing_metadata(context)
            )
            upstream.in_flight.add(call)
            return call

        try:
            upstream = router.resolve(request, service)
            try:
                reply: bytes = await upstream.breaker.call(start)
            finally:
                if call is not None:
                    upstream.in_flight.discard(call)
            return reply
        except grpc.aio.AioRpcError as exc:
            await context.abort(exc.code(), exc.details() or "")
        except Reject as exc:
            await context.abort(exc.code, exc.details)
        except CircuitOpenError as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, exc.message)
        except UnavailableError as exc:
            # The breaker raises a cancel this task did not ask for as UnavailableError
            # (prism.sdk.errors.backend_cancel): here, the upstream call cancelled because the
            # upstream was dropped. A cancel of this task (the client went away) stays a cancel.
            dropped = call is not None and call in upstream.dropped
            await context.abort(
                grpc.StatusCode.UNAVAILABLE, _went_down(upstream) if dropped else exc.message
            )
        raise AssertionError("unreachable: abort raises")

    return forward


def _stream(method: ContractMethod, router: Router) -> Callable[..., Any]:
    path, service = method.path, method.service

    async def forward(request: bytes, context: grpc.aio.ServicerContext) -> None:
        try:
            upstream = router.resolve(request, service)
            if upstream.breaker.state is BreakerState.OPEN:
                raise Reject(
                    grpc.StatusCode.UNAVAILABLE,
                    f"plugin {upstream.label} (instance {upstream.name}) is failing: "
                    f"circuit open, retry in {upstream.breaker.retry_after:.1f}s",
                )
        except Reject as exc:
            await context.abort(exc.code, exc.details)
        call = upstream.streams[path](
            request, timeout=context.time_remaining(), metadata=outgoing_metadata(context)
        )
        upstream.in_flight.add(call)
        try:
            headers = await call.initial_metadata()
            if headers:
                await context.send_initial_metadata(tuple(headers))
            while True:
                item = await call.read()
                if item is grpc.aio.EOF:
                    break
                await context.write(item)
        except grpc.aio.AioRpcError as exc:
            await context.abort(exc.code(), exc.details() or "")
        except asyncio.CancelledError:
            if call not in upstream.dropped:
                raise  # the client went away
            await context.abort(grpc.StatusCode.UNAVAILABLE, _went_down(upstream))
        finally:
            # Client gone (we are cancelled), or an error: stop the upstream stream too.
            upstream.in_flight.discard(call)
            call.cancel()

    return forward


def _went_down(upstream: Upstream) -> str:
    return (
        f"plugin {upstream.label} (instance {upstream.name}) went down during the call: "
        f"{upstream.reason}"
    )


def build_handlers(
    router: Router, methods: Iterable[ContractMethod], wrappers: Sequence[MethodWrapper] = ()
) -> Sequence[grpc.GenericRpcHandler]:
    """One generic handler per contract service, every method forwarding raw bytes.

    ``wrappers`` (outermost first) wrap each method's behaviour once, here.
    """
    by_service: dict[str, dict[str, grpc.RpcMethodHandler]] = {}
    for m in methods:
        behavior = _stream(m, router) if m.server_streaming else _unary(m, router)
        for wrapper in reversed(wrappers):
            behavior = wrapper.wrap(behavior, m.path)
        if m.server_streaming:
            handler = grpc.unary_stream_rpc_method_handler(behavior)
        else:
            handler = grpc.unary_unary_rpc_method_handler(behavior)
        by_service.setdefault(m.service, {})[m.name] = handler
    return [grpc.method_handlers_generic_handler(s, h) for s, h in by_service.items()]

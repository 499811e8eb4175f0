"""Run a Prism plugin as a grpc.aio server with the SDK's standard middleware.

What for: every plugin must look the same on the wire — contract status codes for errors
(never tracebacks), an access log with request ids, Prometheus RED metrics, the caller's
deadline propagated into handlers, grpc.health.v1, server reflection and a draining stop.
:class:`PluginServer` provides all of it around a plugin's servicers.

Why this way: grpc.aio already has the server, interceptors, health and reflection
implementations; this package only composes them. The per-call work runs in one wrapper per
method built at registration (:mod:`~prism.sdk.server.middleware`), not as a chain of grpc.aio
interceptors, because it runs on every call; each concern it orders lives in its own module
(access log, metrics, error mapping, request id). A plugin's own interceptors subclass
:class:`WrappingInterceptor`, which handles the four call shapes once.
"""

from prism.sdk.server.access_log import ACCESS_LOGGER, AccessLog
from prism.sdk.server.error_mapping import ErrorMapper
from prism.sdk.server.log_format import JsonFormatter, LogFormat, configure_logging
from prism.sdk.server.middleware import Middleware
from prism.sdk.server.request_id import (
    REQUEST_ID_METADATA_KEY,
    current_request_id,
    new_request_id,
)
from prism.sdk.server.request_metrics import REQUEST_DURATION, REQUESTS_TOTAL
from prism.sdk.server.server import MAX_MESSAGE_BYTES, PluginServer, ServiceBinding
from prism.sdk.server.wrapping import WrappingInterceptor

__all__ = [
    "ACCESS_LOGGER",
    "MAX_MESSAGE_BYTES",
    "REQUESTS_TOTAL",
    "REQUEST_DURATION",
    "REQUEST_ID_METADATA_KEY",
    "AccessLog",
    "ErrorMapper",
    "JsonFormatter",
    "LogFormat",
    "Middleware",
    "PluginServer",
    "ServiceBinding",
    "WrappingInterceptor",
    "configure_logging",
    "current_request_id",
    "new_request_id",
]

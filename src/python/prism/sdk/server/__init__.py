"""Run a Prism plugin as a grpc.aio server with the SDK's standard middleware.

What for: every plugin must look the same on the wire — contract status codes for errors
(never tracebacks), an access log with request ids, Prometheus RED metrics, the caller's
deadline propagated into handlers, grpc.health.v1, server reflection and a draining stop.
:class:`PluginServer` provides all of it around a plugin's servicers.

Why this way: grpc.aio already has the server, interceptors, health and reflection
implementations; this package only composes them. The interceptors share one small base
(:mod:`~prism.sdk.server.wrapping`) because grpc.aio interceptors can only swap whole method
handlers, and wrapping streaming handlers correctly (errors raised mid-stream) is easy to get
wrong once per interceptor. Each interceptor lives in its own module and does one thing.
"""

from prism.sdk.server.deadline_interceptor import DeadlineInterceptor
from prism.sdk.server.error_interceptor import ErrorInterceptor
from prism.sdk.server.log_format import JsonFormatter, LogFormat, configure_logging
from prism.sdk.server.logging_interceptor import ACCESS_LOGGER, LoggingInterceptor
from prism.sdk.server.metrics_interceptor import (
    REQUEST_DURATION,
    REQUESTS_TOTAL,
    MetricsInterceptor,
)
from prism.sdk.server.request_id import (
    REQUEST_ID_METADATA_KEY,
    current_request_id,
    new_request_id,
)
from prism.sdk.server.server import MAX_MESSAGE_BYTES, PluginServer, ServiceBinding
from prism.sdk.server.wrapping import WrappingInterceptor

__all__ = [
    "ACCESS_LOGGER",
    "MAX_MESSAGE_BYTES",
    "REQUESTS_TOTAL",
    "REQUEST_DURATION",
    "REQUEST_ID_METADATA_KEY",
    "DeadlineInterceptor",
    "ErrorInterceptor",
    "JsonFormatter",
    "LogFormat",
    "LoggingInterceptor",
    "MetricsInterceptor",
    "PluginServer",
    "ServiceBinding",
    "WrappingInterceptor",
    "configure_logging",
    "current_request_id",
    "new_request_id",
]

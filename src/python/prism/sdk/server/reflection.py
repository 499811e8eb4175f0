"""Server reflection that also resolves method symbols (``pkg.Service.Method``).

grpcio-reflection asks the descriptor pool for the file containing a symbol; the upb pool
(protobuf >= 4) finds messages, services, fields and enums but not methods
(grpc/grpc#34743), and ghz / grpcurl look a call up by its method's full name. A method
resolves to its service's file, which is what the reflection protocol means.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc
from grpc_reflection.v1alpha import _async as reflection_aio
from grpc_reflection.v1alpha import reflection_pb2_grpc


class MethodAwareReflectionServicer(reflection_aio.ReflectionServicer):  # type: ignore[misc]
    """grpc_reflection's async servicer, plus method symbols resolved to their service."""

    def _file_containing_symbol(self, request: Any, fully_qualified_name: str) -> Any:
        try:
            self._pool.FindFileContainingSymbol(fully_qualified_name)
        except KeyError:
            service, _, method = fully_qualified_name.rpartition(".")
            try:
                if method in self._pool.FindServiceByName(service).methods_by_name:
                    fully_qualified_name = service
            except KeyError:
                pass
        return super()._file_containing_symbol(request, fully_qualified_name)


def enable_server_reflection(service_names: Sequence[str], server: grpc.aio.Server) -> None:
    """Serve reflection for ``service_names`` (what ghz and grpcurl use instead of .proto)."""
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(
        MethodAwareReflectionServicer(service_names), server
    )

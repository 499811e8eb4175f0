"""The contract services the proxy routes, read from the generated descriptors.

Taking the services (every ``prism.interfaces`` module but Lifecycle) and their methods (and
which stream) from the protobuf descriptors rather than writing them out means a service or
method added to a .proto is routed without touching the proxy. Importing
the ``_pb2`` modules also puts the descriptors in the default pool, which server reflection
serves so grpcurl and ghz work against the proxy without .proto files.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass

from google.protobuf.descriptor import ServiceDescriptor

import prism.interfaces

_LIFECYCLE = "prism.LifecycleInterface"


@dataclass(frozen=True)
class ContractMethod:
    service: str  # fully qualified, e.g. prism.KeyValueBasicInterface
    name: str  # e.g. Get
    server_streaming: bool

    @property
    def path(self) -> str:
        """The gRPC method path, ``/prism.KeyValueBasicInterface/Get``."""
        return f"/{self.service}/{self.name}"


def _interface_services() -> dict[str, ServiceDescriptor]:
    """Every service of every ``prism.interfaces.*_pb2`` module, by full name."""
    services: dict[str, ServiceDescriptor] = {}
    for info in sorted(pkgutil.iter_modules(prism.interfaces.__path__, "prism.interfaces.")):
        if info.name.endswith("_pb2"):
            module = importlib.import_module(info.name)
            for service in module.DESCRIPTOR.services_by_name.values():
                services[service.full_name] = service
    return services


_SERVICES = _interface_services()
LIFECYCLE_SERVICE: ServiceDescriptor = _SERVICES.pop(_LIFECYCLE)
# Every other interface is a contract service the proxy routes: no list to keep up to date.
CONTRACT_SERVICES: tuple[ServiceDescriptor, ...] = tuple(_SERVICES.values())
CONTRACT_SERVICE_NAMES: tuple[str, ...] = tuple(_SERVICES)


def contract_methods() -> list[ContractMethod]:
    """Every routed method; every request type has ``string namespace = 1`` (checked here)."""
    methods = []
    for service in CONTRACT_SERVICES:
        for method in service.methods:
            ns = method.input_type.fields_by_number.get(1)
            if ns is None or ns.name != "namespace":
                raise RuntimeError(f"{method.full_name}: request field 1 is not 'namespace'")
            if method.client_streaming:
                raise RuntimeError(f"{method.full_name}: client streaming is not routable")
            methods.append(ContractMethod(service.full_name, method.name, method.server_streaming))
    return methods

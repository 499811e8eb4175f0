"""The contract services the proxy routes, read from the generated descriptors.

Taking the method list (and which methods stream) from the protobuf descriptors rather than
writing it out means a method added to a .proto is routed without touching the proxy. Importing
the ``_pb2`` modules also puts the descriptors in the default pool, which server reflection
serves so grpcurl and ghz work against the proxy without .proto files.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.descriptor import ServiceDescriptor

from prism.interfaces import (
    keyvalue_basic_pb2,
    keyvalue_scan_pb2,
    keyvalue_ttl_pb2,
    lifecycle_pb2,
    multicast_registry_pb2,
    pubsub_basic_pb2,
)


@dataclass(frozen=True)
class ContractMethod:
    service: str  # fully qualified, e.g. prism.KeyValueBasicInterface
    name: str  # e.g. Get
    server_streaming: bool

    @property
    def path(self) -> str:
        """The gRPC method path, ``/prism.KeyValueBasicInterface/Get``."""
        return f"/{self.service}/{self.name}"


def _service(module: object, name: str) -> ServiceDescriptor:
    descriptor: ServiceDescriptor = module.DESCRIPTOR.services_by_name[name]  # type: ignore[attr-defined]
    return descriptor


CONTRACT_SERVICES: tuple[ServiceDescriptor, ...] = (
    _service(keyvalue_basic_pb2, "KeyValueBasicInterface"),
    _service(keyvalue_ttl_pb2, "KeyValueTTLInterface"),
    _service(keyvalue_scan_pb2, "KeyValueScanInterface"),
    _service(pubsub_basic_pb2, "PubSubBasicInterface"),
    _service(multicast_registry_pb2, "MulticastRegistryInterface"),
)
CONTRACT_SERVICE_NAMES: tuple[str, ...] = tuple(s.full_name for s in CONTRACT_SERVICES)
LIFECYCLE_SERVICE: ServiceDescriptor = _service(lifecycle_pb2, "LifecycleInterface")


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

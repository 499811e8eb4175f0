"""The routed services come from the prism.interfaces descriptors, not a list in the proxy."""

from __future__ import annotations

from prism.interfaces import lifecycle_pb2
from prism.proxy.contract import CONTRACT_SERVICE_NAMES, LIFECYCLE_SERVICE, contract_methods


def test_every_interface_but_lifecycle_is_routed() -> None:
    assert set(CONTRACT_SERVICE_NAMES) == {
        "prism.KeyValueBasicInterface",
        "prism.KeyValueTTLInterface",
        "prism.KeyValueScanInterface",
        "prism.PubSubBasicInterface",
        "prism.MulticastRegistryInterface",
    }
    assert LIFECYCLE_SERVICE is lifecycle_pb2.DESCRIPTOR.services_by_name["LifecycleInterface"]
    paths = {m.path for m in contract_methods()}
    assert "/prism.KeyValueBasicInterface/Get" in paths
    assert not any(p.startswith("/prism.LifecycleInterface/") for p in paths)

"""Every message of the contract survives serialisation, and every service is declared."""

from __future__ import annotations

import pytest
from google.protobuf import descriptor_pool
from google.protobuf.message import Message

from prism.interfaces import (
    keyvalue_basic_pb2,
    keyvalue_basic_pb2_grpc,
    keyvalue_scan_pb2,
    keyvalue_scan_pb2_grpc,
    keyvalue_ttl_pb2,
    keyvalue_ttl_pb2_grpc,
    lifecycle_pb2,
    lifecycle_pb2_grpc,
    multicast_registry_pb2,
    multicast_registry_pb2_grpc,
    pubsub_basic_pb2,
    pubsub_basic_pb2_grpc,
)

SAMPLES: list[Message] = [
    keyvalue_basic_pb2.SetRequest(
        namespace="default", key="k-é", value=b"\x00\xff", ttl_seconds=1.5, tags={"a": "b"}
    ),
    keyvalue_basic_pb2.SetResponse(created=True),
    keyvalue_basic_pb2.GetRequest(namespace="default", key="k"),
    keyvalue_basic_pb2.GetResponse(value=b"v", tags={"t": "1"}),
    keyvalue_basic_pb2.DeleteRequest(namespace="default", key="k"),
    keyvalue_basic_pb2.DeleteResponse(deleted=True),
    keyvalue_basic_pb2.ExistsRequest(namespace="default", key="k"),
    keyvalue_basic_pb2.ExistsResponse(exists=True),
    keyvalue_ttl_pb2.ExpireRequest(namespace="default", key="k", ttl_seconds=30),
    keyvalue_ttl_pb2.ExpireResponse(),
    keyvalue_ttl_pb2.GetTTLRequest(namespace="default", key="k"),
    keyvalue_ttl_pb2.GetTTLResponse(has_ttl=True, ttl_seconds=29.5),
    keyvalue_ttl_pb2.PersistRequest(namespace="default", key="k"),
    keyvalue_ttl_pb2.PersistResponse(persisted=True),
    keyvalue_scan_pb2.ScanRequest(
        namespace="default", prefix="user:", limit=10, cursor="c1", keys_only=True
    ),
    keyvalue_scan_pb2.ScanItem(key="user:1", value=b"x", cursor="c2"),
    keyvalue_scan_pb2.CountRequest(namespace="default", prefix="user:"),
    keyvalue_scan_pb2.CountResponse(count=3),
    pubsub_basic_pb2.PublishRequest(
        namespace="events", topic="t", payload=b"p", metadata={"trace": "1"}
    ),
    pubsub_basic_pb2.PublishResponse(message_id="0-1"),
    pubsub_basic_pb2.SubscribeRequest(
        namespace="events",
        topic="t",
        subscriber_id="s1",
        ack_mode=pubsub_basic_pb2.ACK_MODE_AUTO,
        ack_deadline_ms=5000,
        max_outstanding=10,
    ),
    pubsub_basic_pb2.Message(
        topic="t",
        message_id="0-1",
        payload=b"p",
        metadata={"k": "v"},
        publish_time_ms=17,
        ack_id="0-1",
        delivery_attempt=2,
    ),
    pubsub_basic_pb2.AckRequest(namespace="events", topic="t", subscriber_id="s1", ack_ids=["0-1"]),
    pubsub_basic_pb2.AckResponse(acknowledged=1),
    pubsub_basic_pb2.UnsubscribeRequest(namespace="events", topic="t", subscriber_id="s1"),
    pubsub_basic_pb2.UnsubscribeResponse(unsubscribed=True),
    lifecycle_pb2.InitializeRequest(name="cache", config={"addr": "127.0.0.1:6379"}),
    lifecycle_pb2.InitializeResponse(
        plugin_name="redis", version="0.1.0", interfaces=["prism.KeyValueBasicInterface"]
    ),
    lifecycle_pb2.StartRequest(),
    lifecycle_pb2.StartResponse(),
    lifecycle_pb2.DrainRequest(timeout_seconds=5),
    lifecycle_pb2.DrainResponse(remaining_requests=2),
    lifecycle_pb2.StopRequest(timeout_seconds=5),
    lifecycle_pb2.StopResponse(),
    lifecycle_pb2.HealthCheckRequest(),
    lifecycle_pb2.CheckResult(
        status=lifecycle_pb2.HEALTH_STATUS_DEGRADED,
        message="pool 95% busy",
        critical=False,
        duration_ms=1.25,
        checked_at_ms=1700000000000,
    ),
    lifecycle_pb2.HealthCheckResponse(
        status=lifecycle_pb2.HEALTH_STATUS_HEALTHY,
        message="ok",
        details={"redis": lifecycle_pb2.CheckResult(status=lifecycle_pb2.HEALTH_STATUS_HEALTHY)},
    ),
]

_MC = multicast_registry_pb2
_FILTER = _MC.Filter(
    conditions=[
        _MC.FilterCondition(key="region", op=_MC.FILTER_OP_IN, values=["eu", "us"]),
        _MC.FilterCondition(key="age", op=_MC.FILTER_OP_GE, values=["18"]),
    ]
)
SAMPLES += [
    _FILTER.conditions[0],
    _FILTER,
    _MC.Registration(
        identity="device-é", metadata={"region": "eu"}, expire_time_ms=1_700_000_000_000
    ),
    _MC.RegisterRequest(namespace="d", identity="x", metadata={"a": "b"}, ttl_seconds=2.5),
    _MC.RegisterResponse(created=True),
    _MC.UnregisterRequest(namespace="d", identity="x"),
    _MC.UnregisterResponse(unregistered=True),
    _MC.EnumerateRequest(namespace="d", filter=_FILTER, page_size=10),
    _MC.EnumerateResponse(registrations=[_MC.Registration(identity="x")]),
    _MC.MulticastRequest(namespace="d", filter=_FILTER, payload=b"\x00\xff", headers={"h": "1"}),
    _MC.MulticastResponse(targeted=3, delivered=1, no_receiver=1, failed=1, fanout_ms=0.5),
    _MC.ReceiveRequest(namespace="d", identity="x"),
    _MC.MulticastMessage(
        message_id="m", payload=b"p", headers={"h": "1"}, send_time_us=1_700_000_000_000_000
    ),
]

MODULES = [
    keyvalue_basic_pb2,
    keyvalue_ttl_pb2,
    keyvalue_scan_pb2,
    pubsub_basic_pb2,
    lifecycle_pb2,
    multicast_registry_pb2,
]


def test_samples_cover_every_message_type() -> None:
    declared = {
        f"prism.{name}" for module in MODULES for name in module.DESCRIPTOR.message_types_by_name
    }
    sampled = {sample.DESCRIPTOR.full_name for sample in SAMPLES}
    assert declared == sampled


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda m: m.DESCRIPTOR.full_name)
def test_message_round_trips(sample: Message) -> None:
    wire = sample.SerializeToString()
    decoded = type(sample)()
    decoded.ParseFromString(wire)
    assert decoded == sample
    # Non-default samples must not serialise to nothing (guards against an empty sample).
    if sample.ListFields():
        assert wire


def test_optional_ttl_presence_is_kept() -> None:
    without = keyvalue_basic_pb2.SetRequest(key="k")
    assert not without.HasField("ttl_seconds")
    decoded = keyvalue_basic_pb2.SetRequest.FromString(
        keyvalue_basic_pb2.SetRequest(key="k", ttl_seconds=0).SerializeToString()
    )
    assert decoded.HasField("ttl_seconds")


@pytest.mark.parametrize(
    ("service", "methods", "stub"),
    [
        (
            "prism.KeyValueBasicInterface",
            {"Set", "Get", "Delete", "Exists"},
            keyvalue_basic_pb2_grpc.KeyValueBasicInterfaceStub,
        ),
        (
            "prism.KeyValueTTLInterface",
            {"Expire", "GetTTL", "Persist"},
            keyvalue_ttl_pb2_grpc.KeyValueTTLInterfaceStub,
        ),
        (
            "prism.KeyValueScanInterface",
            {"Scan", "Count"},
            keyvalue_scan_pb2_grpc.KeyValueScanInterfaceStub,
        ),
        (
            "prism.PubSubBasicInterface",
            {"Publish", "Subscribe", "Ack", "Unsubscribe"},
            pubsub_basic_pb2_grpc.PubSubBasicInterfaceStub,
        ),
        (
            "prism.MulticastRegistryInterface",
            {"Register", "Unregister", "Enumerate", "Multicast", "Receive"},
            multicast_registry_pb2_grpc.MulticastRegistryInterfaceStub,
        ),
        (
            "prism.LifecycleInterface",
            {"Initialize", "Start", "Drain", "Stop", "HealthCheck"},
            lifecycle_pb2_grpc.LifecycleInterfaceStub,
        ),
    ],
)
def test_services_declare_their_methods(service: str, methods: set[str], stub: type) -> None:
    desc = descriptor_pool.Default().FindServiceByName(service)
    assert {m.name for m in desc.methods} == methods
    assert stub is not None


def test_streaming_shapes() -> None:
    pool = descriptor_pool.Default()
    scan = pool.FindServiceByName("prism.KeyValueScanInterface").methods_by_name["Scan"]
    sub = pool.FindServiceByName("prism.PubSubBasicInterface").methods_by_name["Subscribe"]
    assert scan.server_streaming and not scan.client_streaming
    assert sub.server_streaming and not sub.client_streaming

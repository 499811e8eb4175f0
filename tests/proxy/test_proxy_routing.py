"""Every contract call through a real proxy to real MemStore plugin processes."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from prism.interfaces import (
    keyvalue_basic_pb2 as kv,
)
from prism.interfaces import (
    keyvalue_basic_pb2_grpc as kv_grpc,
)
from prism.interfaces import (
    keyvalue_scan_pb2 as scan,
)
from prism.interfaces import (
    keyvalue_scan_pb2_grpc as scan_grpc,
)
from prism.interfaces import (
    keyvalue_ttl_pb2 as ttl,
)
from prism.interfaces import (
    keyvalue_ttl_pb2_grpc as ttl_grpc,
)
from prism.interfaces import (
    pubsub_basic_pb2 as ps,
)
from prism.interfaces import (
    pubsub_basic_pb2_grpc as ps_grpc,
)
from prism.sdk.limits import MAX_QUOTED_CHARS
from proxy.gateway import Gateway


@pytest.fixture(scope="module")
def channel(gateway: Gateway) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(gateway.addr) as ch:
        yield ch


def _error(fn: object, *args: object, **kwargs: object) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        fn(*args, **kwargs)  # type: ignore[operator]
    return info.value


def test_basic_set_get_delete_exists(channel: grpc.Channel) -> None:
    stub = kv_grpc.KeyValueBasicInterfaceStub(channel)
    first = kv.SetRequest(namespace="default", key="k1", value=b"v1", tags={"a": "b"})
    assert stub.Set(first).created
    assert not stub.Set(kv.SetRequest(namespace="default", key="k1", value=b"v2")).created
    got = stub.Get(kv.GetRequest(namespace="default", key="k1"))
    assert got.value == b"v2"
    assert stub.Exists(kv.ExistsRequest(namespace="default", key="k1")).exists
    assert stub.Delete(kv.DeleteRequest(namespace="default", key="k1")).deleted
    assert not stub.Delete(kv.DeleteRequest(namespace="default", key="k1")).deleted
    assert not stub.Exists(kv.ExistsRequest(namespace="default", key="k1")).exists


def test_ttl_calls(channel: grpc.Channel) -> None:
    basic = kv_grpc.KeyValueBasicInterfaceStub(channel)
    stub = ttl_grpc.KeyValueTTLInterfaceStub(channel)
    basic.Set(kv.SetRequest(namespace="default", key="t1", value=b"x"))
    assert not stub.GetTTL(ttl.GetTTLRequest(namespace="default", key="t1")).has_ttl
    stub.Expire(ttl.ExpireRequest(namespace="default", key="t1", ttl_seconds=100))
    reply = stub.GetTTL(ttl.GetTTLRequest(namespace="default", key="t1"))
    assert reply.has_ttl and 0 < reply.ttl_seconds <= 100
    assert stub.Persist(ttl.PersistRequest(namespace="default", key="t1")).persisted
    err = _error(stub.Expire, ttl.ExpireRequest(namespace="default", key="nope", ttl_seconds=1))
    assert err.code() is grpc.StatusCode.NOT_FOUND


def test_scan_and_count_stream_through(channel: grpc.Channel) -> None:
    basic = kv_grpc.KeyValueBasicInterfaceStub(channel)
    stub = scan_grpc.KeyValueScanInterfaceStub(channel)
    for i in range(25):
        basic.Set(kv.SetRequest(namespace="default", key=f"scan/{i:02d}", value=str(i).encode()))
    items = list(stub.Scan(scan.ScanRequest(namespace="default", prefix="scan/")))
    assert [i.key for i in items] == [f"scan/{i:02d}" for i in range(25)]
    assert items[3].value == b"3"
    page = list(
        stub.Scan(
            scan.ScanRequest(namespace="default", prefix="scan/", limit=5, cursor=items[9].cursor)
        )
    )
    assert [i.key for i in page] == [f"scan/{i:02d}" for i in range(10, 15)]
    assert stub.Count(scan.CountRequest(namespace="default", prefix="scan/")).count == 25


def test_scan_cancel_midway_leaves_proxy_healthy(channel: grpc.Channel) -> None:
    basic = kv_grpc.KeyValueBasicInterfaceStub(channel)
    stub = scan_grpc.KeyValueScanInterfaceStub(channel)
    for i in range(200):
        basic.Set(kv.SetRequest(namespace="default", key=f"big/{i:03d}", value=b"x" * 1000))
    stream = stub.Scan(scan.ScanRequest(namespace="default", prefix="big/"))
    first = next(stream)
    assert first.key == "big/000"
    stream.cancel()
    assert stub.Count(scan.CountRequest(namespace="default", prefix="big/")).count == 200


def test_namespaces_are_separate_but_can_share_an_instance(channel: grpc.Channel) -> None:
    stub = kv_grpc.KeyValueBasicInterfaceStub(channel)
    stub.Set(kv.SetRequest(namespace="shared", key="same", value=b"shared"))
    stub.Set(kv.SetRequest(namespace="default", key="same", value=b"default"))
    assert stub.Get(kv.GetRequest(namespace="shared", key="same")).value == b"shared"
    assert stub.Get(kv.GetRequest(namespace="default", key="same")).value == b"default"


def test_instance_settings_are_applied(channel: grpc.Channel) -> None:
    stub = kv_grpc.KeyValueBasicInterfaceStub(channel)
    stub.Set(kv.SetRequest(namespace="small", key="a", value=b""))
    stub.Set(kv.SetRequest(namespace="small", key="b", value=b""))
    err = _error(stub.Set, kv.SetRequest(namespace="small", key="c", value=b""))
    assert err.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "max_keys" in err.details()


def test_unknown_namespace_is_not_found_and_named(channel: grpc.Channel) -> None:
    stub = kv_grpc.KeyValueBasicInterfaceStub(channel)
    err = _error(stub.Get, kv.GetRequest(namespace="nowhere", key="k"))
    assert err.code() is grpc.StatusCode.NOT_FOUND
    assert "'nowhere'" in err.details() and "default" in err.details()
    err = _error(stub.Get, kv.GetRequest(namespace="", key="k"))
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT


def test_invalid_namespace_is_invalid_argument_and_long_ones_are_quoted_short(
    channel: grpc.Channel,
) -> None:
    stub = kv_grpc.KeyValueBasicInterfaceStub(channel)
    err = _error(stub.Get, kv.GetRequest(namespace="n" * 300, key="k"))
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert err.details() == "namespace is 300 bytes; the limit is 255 bytes"
    err = _error(stub.Get, kv.GetRequest(namespace="bad\nname", key="k"))
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT
    # Valid but unknown: NOT_FOUND, the name quoted cut short with its size.
    err = _error(stub.Get, kv.GetRequest(namespace="u" * 200, key="k"))
    assert err.code() is grpc.StatusCode.NOT_FOUND
    assert "u" * 200 not in err.details()
    assert f"'{'u' * MAX_QUOTED_CHARS}'... (200 bytes)" in err.details()


def test_upstream_errors_pass_through_unchanged(channel: grpc.Channel) -> None:
    stub = kv_grpc.KeyValueBasicInterfaceStub(channel)
    err = _error(stub.Get, kv.GetRequest(namespace="default", key="missing"))
    assert err.code() is grpc.StatusCode.NOT_FOUND
    assert err.details() == "key 'missing' not found in namespace 'default'"
    err = _error(stub.Set, kv.SetRequest(namespace="default", key="", value=b""))
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "key" in err.details()


def test_service_the_plugin_lacks_is_unimplemented(channel: grpc.Channel) -> None:
    stub = ps_grpc.PubSubBasicInterfaceStub(channel)
    err = _error(stub.Publish, ps.PublishRequest(namespace="default", topic="t", payload=b"x"))
    assert err.code() is grpc.StatusCode.UNIMPLEMENTED
    assert "memstore" in err.details()


def test_request_id_reaches_the_plugin(gateway: Gateway, channel: grpc.Channel) -> None:
    stub = kv_grpc.KeyValueBasicInterfaceStub(channel)
    stub.Exists(
        kv.ExistsRequest(namespace="default", key="x"),
        metadata=(("x-request-id", "rid-proxy-test-42"),),
    )
    # The plugin's access log (inherited stderr) names the id it received.
    import time

    deadline = time.monotonic() + 5
    while "rid-proxy-test-42" not in gateway.log_text():
        assert time.monotonic() < deadline, "request id not seen in the plugin log"
        time.sleep(0.05)


def test_health_overall_and_per_namespace(channel: grpc.Channel) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    for service in ("", "default", "shared", "small", "prism.KeyValueBasicInterface"):
        reply = stub.Check(health_pb2.HealthCheckRequest(service=service))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING, service
    err = _error(stub.Check, health_pb2.HealthCheckRequest(service="nowhere"))
    assert err.code() is grpc.StatusCode.NOT_FOUND


def test_reflection_lists_contract_services(channel: grpc.Channel) -> None:
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    replies = stub.ServerReflectionInfo(iter([request]))
    names = {s.name for r in replies for s in r.list_services_response.service}
    assert {
        "prism.KeyValueBasicInterface",
        "prism.KeyValueTTLInterface",
        "prism.KeyValueScanInterface",
        "prism.PubSubBasicInterface",
        "grpc.health.v1.Health",
    } <= names

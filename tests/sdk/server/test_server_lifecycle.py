"""PluginServer: binding, reflection, grpc.health.v1, metrics endpoint, graceful stop, logging."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import urllib.request

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from prism.interfaces import keyvalue_basic_pb2 as kv_pb
from prism.interfaces import keyvalue_basic_pb2_grpc as kv_grpc
from prism.sdk.server import PluginServer, configure_logging
from sdk.server.server_fakes import KV_SERVICE, PS_SERVICE, DictKV, Streamer, kv_binding, ps_binding


async def list_services(channel: grpc.aio.Channel) -> set[str]:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    async for resp in stub.ServerReflectionInfo(iter([request]), timeout=5):
        return {s.name for s in resp.list_services_response.service}
    return set()


async def test_reflection_and_health() -> None:
    server = PluginServer([kv_binding(DictKV()), ps_binding(Streamer())])
    assert server.service_names == [KV_SERVICE, PS_SERVICE]
    port = await server.start()
    assert port > 0 and server.address == f"127.0.0.1:{port}"
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            names = await list_services(channel)
            assert {KV_SERVICE, PS_SERVICE, "grpc.health.v1.Health"} <= names
            health = health_pb2_grpc.HealthStub(channel)
            for service in ("", KV_SERVICE):
                resp = await health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
                assert resp.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        await server.stop(1.0)
    await server.stop(1.0)  # idempotent


async def test_stop_drains_in_flight_then_refuses() -> None:
    servicer = DictKV()
    servicer.data["", "block"] = kv_pb.GetResponse(value=b"done")
    server = PluginServer([kv_binding(servicer)])
    await server.start()
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = kv_grpc.KeyValueBasicInterfaceStub(channel)
        call = asyncio.ensure_future(stub.Get(kv_pb.GetRequest(key="block"), timeout=10))
        await asyncio.wait_for(servicer.entered.wait(), 5)
        stopping = asyncio.ensure_future(server.stop(5.0))
        await asyncio.sleep(0.05)
        assert not stopping.done()
        servicer.release.set()
        assert (await call).value == b"done"
        await asyncio.wait_for(stopping, 5)


async def test_metrics_endpoint() -> None:
    server = PluginServer([kv_binding(DictKV())], metrics_port=0)
    assert server.metrics_port is None
    await server.start()
    try:
        mport = server.metrics_port
        assert mport
        async with grpc.aio.insecure_channel(server.address) as channel:
            stub = kv_grpc.KeyValueBasicInterfaceStub(channel)
            await stub.Set(kv_pb.SetRequest(key="m", value=b"1"), timeout=5)
        url = f"http://127.0.0.1:{mport}/metrics"
        body = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read())
        assert b'prism_requests_total{code="OK",method="/prism.KeyValueBasicInterface/Set"}' in body
    finally:
        await server.stop(1.0)
    assert server.metrics_port is None


async def test_misuse_errors() -> None:
    server = PluginServer()
    with pytest.raises(RuntimeError):
        _ = server.port
    assert await server.wait_for_termination(0.01)
    await server.start()
    try:
        with pytest.raises(RuntimeError):
            server.add_service(kv_binding(DictKV()))
        with pytest.raises(RuntimeError):
            await server.start()
        assert not await server.wait_for_termination(0.01)
    finally:
        await server.stop(None)


async def test_bind_failure() -> None:
    first = PluginServer()
    port = await first.start()
    try:
        second = PluginServer(port=port)
        with pytest.raises(OSError, match="could not bind"):
            await second.start()
    finally:
        await first.stop(None)


def test_configure_logging_json_and_text() -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        stream = io.StringIO()
        configure_logging("debug", "json", stream)
        logging.getLogger("x").info("hello", extra={"prism": {"request_id": "r1"}})
        try:
            raise ValueError("bad")
        except ValueError:
            logging.getLogger("x").exception("failed")
        lines = [json.loads(line) for line in stream.getvalue().splitlines()]
        assert lines[0]["msg"] == "hello" and lines[0]["request_id"] == "r1"
        assert lines[0]["level"] == "INFO" and root.level == logging.DEBUG
        assert "ValueError: bad" in lines[1]["exc"]
        text = io.StringIO()
        configure_logging(logging.WARNING, "text", text)
        assert sum(getattr(h, "_prism_handler", False) for h in root.handlers) == 1
        logging.getLogger("x").warning("plain")
        assert "WARNING x plain" in text.getvalue()
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])

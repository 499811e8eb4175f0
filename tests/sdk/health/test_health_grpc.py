"""GrpcHealthService over a real grpc.aio server on 127.0.0.1 with grpc.health.v1 stubs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from prism.sdk.health import LIVENESS_SERVICE, GrpcHealthService, HealthChecker

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
KV = "prism.KeyValueBasicInterface"


class Flip:
    def __init__(self) -> None:
        self.fail = False

    async def __call__(self) -> None:
        if self.fail:
            raise ConnectionError("backend down")


@dataclass
class Env:
    checker: HealthChecker
    service: GrpcHealthService
    stub: health_pb2_grpc.HealthStub
    critical: Flip
    optional: Flip


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    checker = HealthChecker(interval=3600)
    critical, optional = Flip(), Flip()
    checker.register("backend", critical)
    checker.register("cache", optional, critical=False)
    service = GrpcHealthService(checker, [KV])
    server = grpc.aio.server()
    service.add_to_server(server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Env(checker, service, health_pb2_grpc.HealthStub(channel), critical, optional)
    finally:
        await channel.close()
        await server.stop(None)
        await service.close()
        await checker.stop()


async def check(stub: health_pb2_grpc.HealthStub, service: str = "") -> int:
    resp = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
    return int(resp.status)


async def test_check_follows_readiness_and_checks(env: Env) -> None:
    assert await check(env.stub) == NOT_SERVING  # not ready before Start
    assert await check(env.stub, LIVENESS_SERVICE) == SERVING
    await env.checker.start()
    assert await check(env.stub) == NOT_SERVING  # healthy but still not ready
    env.checker.set_ready(True)
    assert await check(env.stub) == SERVING
    assert await check(env.stub, KV) == SERVING

    env.optional.fail = True  # DEGRADED still serves
    await env.checker.run_checks()
    assert await check(env.stub, KV) == SERVING

    env.critical.fail = True  # UNHEALTHY stops serving, but the process is still live
    await env.checker.run_checks()
    assert await check(env.stub) == NOT_SERVING
    assert await check(env.stub, KV) == NOT_SERVING
    assert await check(env.stub, LIVENESS_SERVICE) == SERVING

    env.critical.fail = False
    await env.checker.run_checks()
    assert await check(env.stub, KV) == SERVING
    env.checker.set_ready(False)  # drained
    assert await check(env.stub, KV) == NOT_SERVING

    env.checker.set_live(False)
    assert await check(env.stub, LIVENESS_SERVICE) == NOT_SERVING


async def test_unknown_service_is_not_found(env: Env) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await check(env.stub, "no.such.Service")
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


async def next_status(stream: grpc.aio.UnaryStreamCall) -> int:
    resp = await asyncio.wait_for(stream.read(), timeout=10)
    assert resp is not grpc.aio.EOF
    return int(resp.status)


async def test_watch_streams_changes(env: Env) -> None:
    await env.checker.start()
    env.checker.set_ready(True)
    stream = env.stub.Watch(health_pb2.HealthCheckRequest(service=KV))
    try:
        assert await next_status(stream) == SERVING
        env.critical.fail = True
        await env.checker.run_checks()
        assert await next_status(stream) == NOT_SERVING
        env.critical.fail = False
        await env.checker.run_checks()
        assert await next_status(stream) == SERVING
        env.checker.set_ready(False)
        assert await next_status(stream) == NOT_SERVING
    finally:
        stream.cancel()


async def test_watch_unknown_service_reports_service_unknown(env: Env) -> None:
    stream = env.stub.Watch(health_pb2.HealthCheckRequest(service="no.such.Service"))
    try:
        assert await next_status(stream) == health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
    finally:
        stream.cancel()


async def test_graceful_shutdown_pins_not_serving(env: Env) -> None:
    await env.checker.start()
    env.checker.set_ready(True)
    assert await check(env.stub) == SERVING
    await env.service.enter_graceful_shutdown()
    assert await check(env.stub) == NOT_SERVING
    assert await check(env.stub, KV) == NOT_SERVING
    assert env.service.servicer is not None


def test_desired_statuses_outside_a_loop() -> None:
    checker = HealthChecker()
    service = GrpcHealthService(checker, ["", LIVENESS_SERVICE, KV])
    checker.set_ready(True)  # no running loop: the change is picked up by the next Check
    assert service.desired_statuses() == {"": SERVING, KV: SERVING, LIVENESS_SERVICE: SERVING}

"""PluginServer's interceptor stack over a real grpc.aio server on 127.0.0.1:0."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import grpc
import pytest
from prometheus_client import REGISTRY

from prism.interfaces import keyvalue_basic_pb2 as kv_pb
from prism.interfaces import keyvalue_basic_pb2_grpc as kv_grpc
from prism.interfaces import keyvalue_ttl_pb2 as ttl_pb
from prism.interfaces import keyvalue_ttl_pb2_grpc as ttl_grpc
from prism.interfaces import pubsub_basic_pb2 as ps_pb
from prism.interfaces import pubsub_basic_pb2_grpc as ps_grpc
from prism.sdk.errors import PrismError, UnavailableError
from prism.sdk.server import AccessLog, PluginServer, ServiceBinding
from prism.sdk.server.log_format import JsonFormatter
from sdk.server.server_fakes import (
    SECRET,
    BackendDown,
    DictKV,
    Streamer,
    kv_binding,
    ps_binding,
)

GET = "/prism.KeyValueBasicInterface/Get"


def classify_backend(exc: BaseException) -> PrismError | None:
    return UnavailableError(f"backend: {exc}") if isinstance(exc, BackendDown) else None


@dataclass
class Env:
    server: PluginServer
    kv_servicer: DictKV
    kv: kv_grpc.KeyValueBasicInterfaceStub
    ps: ps_grpc.PubSubBasicInterfaceStub
    channel: grpc.aio.Channel


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    servicer = DictKV()
    server = PluginServer(
        [kv_binding(servicer), ps_binding(Streamer())],
        classifiers=[classify_backend],
        access_log=AccessLog(every=1),
    )
    port = await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Env(
            server,
            servicer,
            kv_grpc.KeyValueBasicInterfaceStub(channel),
            ps_grpc.PubSubBasicInterfaceStub(channel),
            channel,
        )
    finally:
        await channel.close()
        await server.stop(1.0)


async def get_error(env: Env, key: str, **kw: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await env.kv.Get(kv_pb.GetRequest(key=key), timeout=5, **kw)
    return info.value


async def test_ok_roundtrip_and_large_value(env: Env) -> None:
    big = b"v" * (2 * 1024 * 1024)
    resp = await env.kv.Set(kv_pb.SetRequest(key="k", value=big, tags={"a": "b"}), timeout=5)
    assert resp.created
    got = await env.kv.Get(kv_pb.GetRequest(key="k"), timeout=5)
    assert got.value == big and dict(got.tags) == {"a": "b"}


async def test_prism_error_maps_to_its_code_and_message(env: Env) -> None:
    err = await get_error(env, "missing")
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert err.details() == "key 'missing' not found"
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await env.kv.Set(kv_pb.SetRequest(key=""), timeout=5)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_classifier_maps_backend_exception(env: Env) -> None:
    err = await get_error(env, "backend-down")
    assert err.code() == grpc.StatusCode.UNAVAILABLE
    assert err.details() == "backend: connection refused"


async def test_handler_abort_passes_through(env: Env) -> None:
    err = await get_error(env, "abort")
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert err.details() == "handler aborted"


async def test_unknown_exception_is_internal_without_traceback(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    err = await get_error(env, "boom", metadata=(("x-request-id", "req-42"),))
    assert err.code() == grpc.StatusCode.INTERNAL
    assert err.details() == "internal error (request id req-42)"
    assert SECRET not in (err.debug_error_string() or "")
    errors = [r for r in caplog.records if r.name == "prism.errors"]
    assert errors and errors[0].exc_info is not None
    assert "req-42" in errors[0].getMessage()
    assert SECRET in caplog.text  # the trace is in the server log only


class Unfinished(ttl_grpc.KeyValueTTLInterfaceServicer):
    """Overrides nothing: every method is the generated 'not implemented' base method."""


async def test_method_the_servicer_does_not_override_is_unimplemented(
    caplog: pytest.LogCaptureFixture,
) -> None:
    servicer = Unfinished()  # type: ignore[abstract]  # deliberately incomplete
    add = ttl_grpc.add_KeyValueTTLInterfaceServicer_to_server
    server = PluginServer([ServiceBinding(add, servicer, "prism.KeyValueTTLInterface")])
    port = await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = ttl_grpc.KeyValueTTLInterfaceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub.Persist(ttl_pb.PersistRequest(namespace="n", key="k"), timeout=5)
    finally:
        await server.stop(1.0)
    assert info.value.code() is grpc.StatusCode.UNIMPLEMENTED
    assert info.value.details() == "/prism.KeyValueTTLInterface/Persist is not implemented"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_generated_request_id_in_internal_message(env: Env) -> None:
    err = await get_error(env, "boom")
    rid = (err.details() or "").removeprefix("internal error (request id ").rstrip(")")
    assert len(rid) == 32


def _access(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "prism.access"]


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait for the server's per-call accounting (access log, metrics): it runs as the call
    ends on the server, which can be after the client already has its answer (CI saw an empty
    access log right after the call returned)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check() and loop.time() < deadline:
        await asyncio.sleep(0.01)


async def test_access_log_has_request_id_method_code_latency(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="prism.access")
    await get_error(env, "missing", metadata=(("x-request-id", "abc-123"),))
    assert env.kv_servicer.seen_request_id == "abc-123"
    await eventually(lambda: len(_access(caplog)) >= 1)
    records = _access(caplog)
    assert len(records) == 1
    fields = records[0].prism  # type: ignore[attr-defined]
    assert fields["request_id"] == "abc-123"
    assert fields["method"] == GET
    assert fields["code"] == "NOT_FOUND"
    assert fields["latency_ms"] >= 0
    assert "request_id=abc-123" in records[0].getMessage()
    line = json.loads(JsonFormatter().format(records[0]))
    assert line["request_id"] == "abc-123" and line["code"] == "NOT_FOUND"


async def test_access_log_levels(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="prism.access")
    await get_error(env, "boom")
    await get_error(env, "missing")
    await eventually(lambda: len(_access(caplog)) >= 2)
    levels = {r.prism["code"]: r.levelno for r in caplog.records if r.name == "prism.access"}  # type: ignore[attr-defined]
    assert levels == {"INTERNAL": logging.WARNING, "NOT_FOUND": logging.INFO}


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_metrics_count_by_method_and_code(env: Env) -> None:
    before_nf = sample("prism_requests_total", method=GET, code="NOT_FOUND")
    before_int = sample("prism_requests_total", method=GET, code="INTERNAL")
    before_n = sample("prism_request_duration_seconds_count", method=GET)
    await get_error(env, "missing")
    await get_error(env, "missing")
    await get_error(env, "boom")
    await eventually(
        lambda: sample("prism_request_duration_seconds_count", method=GET) >= before_n + 3
    )
    assert sample("prism_requests_total", method=GET, code="NOT_FOUND") == before_nf + 2
    assert sample("prism_requests_total", method=GET, code="INTERNAL") == before_int + 1
    assert sample("prism_request_duration_seconds_count", method=GET) == before_n + 3


async def test_deadline_visible_in_handler(env: Env) -> None:
    await env.kv.Set(kv_pb.SetRequest(key="k", value=b"1"), timeout=5)
    await env.kv.Get(kv_pb.GetRequest(key="k"), timeout=30)
    assert env.kv_servicer.seen_remaining is not None
    assert 0 < env.kv_servicer.seen_remaining <= 30.5
    await env.kv.Get(kv_pb.GetRequest(key="k"))
    assert env.kv_servicer.seen_remaining is None


async def subscribe_until_error(env: Env, topic: str) -> tuple[list[str], grpc.aio.AioRpcError]:
    """The ids of the messages a Subscribe stream sent before it failed, and its error."""
    got: list[str] = []
    with pytest.raises(grpc.aio.AioRpcError) as info:
        async for m in env.ps.Subscribe(ps_pb.SubscribeRequest(topic=topic), timeout=5):
            got.append(m.message_id)
    return got, info.value


async def test_stream_ok(env: Env) -> None:
    msgs = [m async for m in env.ps.Subscribe(ps_pb.SubscribeRequest(topic="ok"), timeout=5)]
    assert [m.message_id for m in msgs] == ["0", "1", "2"]


async def test_stream_prism_error_mid_stream(env: Env) -> None:
    got, error = await subscribe_until_error(env, "prism-error")
    assert got == ["0", "1", "2"]
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert error.details() == "broker lost mid-stream"


async def test_stream_crash_mid_stream_is_internal(env: Env) -> None:
    got, error = await subscribe_until_error(env, "crash")
    assert got == ["0", "1", "2"]
    assert error.code() == grpc.StatusCode.INTERNAL
    assert SECRET not in (error.details() or "")
    assert (error.details() or "").startswith("internal error (request id ")


async def test_stream_write_style_handler(env: Env) -> None:
    got, error = await subscribe_until_error(env, "write")
    assert got == ["0", "1"]
    assert error.code() == grpc.StatusCode.UNAVAILABLE


async def test_stream_metrics_and_log(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="prism.access")
    method = "/prism.PubSubBasicInterface/Subscribe"
    before = sample("prism_requests_total", method=method, code="OK")
    _ = [m async for m in env.ps.Subscribe(ps_pb.SubscribeRequest(topic="ok"), timeout=5)]
    assert sample("prism_requests_total", method=method, code="OK") == before + 1
    rec = [r for r in caplog.records if r.name == "prism.access"][-1]
    assert rec.prism["messages"] == 3 and rec.prism["method"] == method  # type: ignore[attr-defined]


async def served_kv(access_log: AccessLog) -> tuple[PluginServer, DictKV, int]:
    servicer = DictKV()
    server = PluginServer([kv_binding(servicer)], access_log=access_log)
    return server, servicer, await server.start()


def access_codes(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.prism["code"] for r in caplog.records if r.name == "prism.access"]  # type: ignore[attr-defined]


async def test_default_access_log_has_errors_and_one_in_n_successes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="prism.access")
    server, _, port = await served_kv(AccessLog(every=5))
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = kv_grpc.KeyValueBasicInterfaceStub(channel)
            await stub.Set(kv_pb.SetRequest(key="k", value=b"1"), timeout=5)
            for _ in range(9):
                await stub.Get(kv_pb.GetRequest(key="k"), timeout=5)
            with pytest.raises(grpc.aio.AioRpcError):
                await stub.Get(kv_pb.GetRequest(key="missing"), timeout=5)
            with pytest.raises(grpc.aio.AioRpcError):
                await stub.Get(kv_pb.GetRequest(key="boom"), timeout=5)
    finally:
        await server.stop(1.0)
    # 10 fast successes: the 5th and the 10th are logged; both failures always are.
    assert access_codes(caplog) == ["OK", "OK", "NOT_FOUND", "INTERNAL"]


async def test_slow_calls_are_always_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="prism.access")
    server, _, port = await served_kv(AccessLog(every=0, slow_seconds=0.0))
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = kv_grpc.KeyValueBasicInterfaceStub(channel)
            await stub.Set(kv_pb.SetRequest(key="k", value=b"1"), timeout=5)
    finally:
        await server.stop(1.0)
    assert access_codes(caplog) == ["OK"]


async def test_no_fast_successes_logged_with_every_zero(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="prism.access")
    server, servicer, port = await served_kv(AccessLog(every=0))
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = kv_grpc.KeyValueBasicInterfaceStub(channel)
            await stub.Set(kv_pb.SetRequest(key="k", value=b"1"), timeout=5)
            await stub.Get(kv_pb.GetRequest(key="k"), metadata=(("x-request-id", "r-7"),))
    finally:
        await server.stop(1.0)
    assert access_codes(caplog) == []
    assert servicer.seen_request_id == "r-7"  # still there for handlers, logged or not


def test_access_log_rejects_negative_every() -> None:
    with pytest.raises(ValueError, match="every must be >= 0"):
        AccessLog(every=-1)

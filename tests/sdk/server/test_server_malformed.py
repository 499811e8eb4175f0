"""Request bytes that do not parse get INVALID_ARGUMENT from the SDK, for every method served."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import grpc
import pytest
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import MethodDescriptor

from prism.plugins.memstore.plugin import MemStorePlugin, MemStoreSettings
from prism.sdk.testing import running_plugin

# A valid namespace, then a length-delimited field whose length varint is cut off: no
# message type parses it.
TRUNCATED = b"\x0a\x07default\x12\xff"
SERVED_TOO = (
    "prism.LifecycleInterface",
    "grpc.health.v1.Health",
    "grpc.reflection.v1alpha.ServerReflection",
)


@pytest.fixture
async def plugin_channel() -> AsyncIterator[tuple[grpc.aio.Channel, list[str]]]:
    plugin = MemStorePlugin(MemStoreSettings(port=0))
    services = [b.name for b in plugin.servicers()] + list(SERVED_TOO)
    async with running_plugin(plugin) as address:
        async with grpc.aio.insecure_channel(address) as channel:
            yield channel, services


def _methods(services: list[str]) -> list[MethodDescriptor]:
    pool = descriptor_pool.Default()
    return [m for s in services for m in pool.FindServiceByName(s).methods]


async def _call(channel: grpc.aio.Channel, method: MethodDescriptor, raw: bytes) -> grpc.aio.Call:
    path = f"/{method.containing_service.full_name}/{method.name}"
    if method.client_streaming:
        call = channel.stream_stream(path)(iter([raw]))
    elif method.server_streaming:
        call = channel.unary_stream(path)(raw)
    else:
        call = channel.unary_unary(path)(raw)
    try:
        if method.server_streaming:
            async for _ in call:
                pass
        else:
            await call
    except grpc.aio.AioRpcError:
        pass
    return call


async def test_truncated_request_is_invalid_argument_for_every_method(
    plugin_channel: tuple[grpc.aio.Channel, list[str]], caplog: pytest.LogCaptureFixture
) -> None:
    channel, services = plugin_channel
    methods = _methods(services)
    assert len(methods) > 15  # KV basic/ttl/scan, lifecycle, health, reflection
    for method in methods:
        call = await _call(channel, method, TRUNCATED)
        assert await call.code() is grpc.StatusCode.INVALID_ARGUMENT, method.full_name
        details = await call.details()
        assert details.startswith(f"malformed {method.input_type.full_name}: "), details
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def test_issue_repros_are_invalid_argument(
    plugin_channel: tuple[grpc.aio.Channel, list[str]],
) -> None:
    channel, _ = plugin_channel
    set_ = channel.unary_unary("/prism.KeyValueBasicInterface/Set")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await set_(b"\x0a\x07default\x12\x02\xff\xfe\x1a\x01x")  # key is not UTF-8
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "malformed prism.SetRequest" in (info.value.details() or "")
    scan = channel.unary_stream("/prism.KeyValueScanInterface/Scan")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        async for _ in scan(b"\x0a\x07default\x12\xff"):
            pass
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT

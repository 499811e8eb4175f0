"""Fuzz a real plugin with request bytes, directly and through the proxy (test_proxy_fuzz.py
for MemStore; plugins' own test folders for their backends)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
from google.protobuf.descriptor import MethodDescriptor

from prism.proxy import ProxyServer, parse_config
from prism.proxy.contract import CONTRACT_SERVICES
from prism.proxy.wire import WireError, read_namespace
from prism.sdk.errors import InvalidArgumentError
from prism.sdk.limits import validate_name
from prism.sdk.plugin import Plugin
from prism.sdk.testing import running_plugin
from proxy.wire_fuzz import protobuf_namespace, request_bytes

__all__ = ["fuzz_plugin"]

ROUNDS = 12
STREAM_WAIT = 0.3  # a valid Subscribe stays open: how long to watch it before cancelling
REFUSAL_WAIT = 10.0  # a refused stream must end with its code; on a loaded machine it can be late
NEVER = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL}
# The pub/sub contract gained Ack before every servicer implements it.
NOT_YET_SERVED = {"prism.PubSubBasicInterface.Ack"}


@asynccontextmanager
async def _proxy_in_front(address: str) -> AsyncIterator[grpc.aio.Channel]:
    config = parse_config({"port": 0, "namespaces": {"default": {"endpoint": address}}})
    proxy = ProxyServer(config)
    await proxy.start()
    try:
        async with grpc.aio.insecure_channel(proxy.address) as channel:
            yield channel
    finally:
        await proxy.stop(grace=0.5)


async def _code(
    channel: grpc.aio.Channel, method: MethodDescriptor, raw: bytes, wait: float = STREAM_WAIT
) -> Any:
    path = f"/{method.containing_service.full_name}/{method.name}"
    if not method.server_streaming:
        try:
            await channel.unary_unary(path)(raw, timeout=10)
        except grpc.aio.AioRpcError as exc:
            return exc.code(), exc.details()
        return grpc.StatusCode.OK, ""
    call = channel.unary_stream(path)(raw, timeout=10)

    async def drain() -> None:
        async for _ in call:
            pass

    try:
        await asyncio.wait_for(drain(), wait)
    except TimeoutError:
        return grpc.StatusCode.OK, "still streaming"
    except grpc.aio.AioRpcError as exc:
        return exc.code(), exc.details()
    return grpc.StatusCode.OK, ""


def _refusal(raw: bytes) -> grpc.StatusCode:
    """What the proxy answers for bytes that protobuf rejects."""
    try:
        namespace = read_namespace(raw)
        validate_name("namespace", namespace)
    except (WireError, InvalidArgumentError):
        return grpc.StatusCode.INVALID_ARGUMENT
    return grpc.StatusCode.INVALID_ARGUMENT if namespace == "default" else grpc.StatusCode.NOT_FOUND


def _served(plugin: Plugin[Any]) -> list[MethodDescriptor]:
    names = {b.name for b in plugin.servicers()}
    return [m for s in CONTRACT_SERVICES if s.full_name in names for m in s.methods]


async def fuzz_plugin(plugin: Plugin[Any], seed: int) -> None:
    """Seeded random and mutated bytes to every contract method ``plugin`` serves, directly
    and through a proxy in front of it: never UNKNOWN or INTERNAL, and bytes protobuf
    rejects are refused as the proxy promises."""
    methods = _served(plugin)
    rng = random.Random(seed)
    calls = 0
    async with running_plugin(plugin) as address, _proxy_in_front(address) as via_proxy:
        async with grpc.aio.insecure_channel(address) as direct:
            for _ in range(ROUNDS):
                for method in methods:
                    for raw in request_bytes(method.input_type, rng):
                        parsed = protobuf_namespace(method.input_type, raw)
                        if parsed is not None:
                            assert read_namespace(raw) == parsed, (method.full_name, raw)
                        for channel in (direct, via_proxy):
                            code, details = await _code(channel, method, raw)
                            calls += 1
                            where = (method.full_name, channel is direct, raw, details)
                            assert code not in NEVER, where
                            if code is grpc.StatusCode.UNIMPLEMENTED:
                                assert method.full_name in NOT_YET_SERVED, where
                        if parsed is None:
                            # Bytes protobuf rejects are refused, by the proxy or the plugin
                            # (or NOT_FOUND when they name a valid namespace not configured).
                            code, _ = await _code(via_proxy, method, raw, REFUSAL_WAIT)
                            assert code is _refusal(raw), (method.full_name, raw)
    assert calls > ROUNDS * len(methods) * 6

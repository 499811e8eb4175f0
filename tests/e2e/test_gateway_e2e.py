"""Acceptance of the proxy: every key-value pattern call through `prism up` on MemStore.

The same checks run through the gateway on the real backends in the plugins' own folders
(tests/plugins/redis, tests/plugins/kafka), from ``e2e.gateway_checks``.
"""

from __future__ import annotations

import grpc
import pytest

from e2e.gateway_checks import CALL_TIMEOUT, KeyValueThroughGateway
from prism.interfaces import keyvalue_basic_pb2 as kv
from prism.interfaces import keyvalue_basic_pb2_grpc as kv_grpc

pytest_plugins = ["e2e.gateway_checks"]  # gateway, channel
pytestmark = pytest.mark.timeout(600)


class TestMemStoreThroughGateway(KeyValueThroughGateway):
    @pytest.fixture
    def namespace(self) -> str:
        return "mem"


async def test_unknown_namespace_is_not_found(channel: grpc.aio.Channel) -> None:
    stub = kv_grpc.KeyValueBasicInterfaceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.Get(kv.GetRequest(namespace="nope", key="k"), timeout=CALL_TIMEOUT)
    assert info.value.code() is grpc.StatusCode.NOT_FOUND
    assert "nope" in (info.value.details() or "")

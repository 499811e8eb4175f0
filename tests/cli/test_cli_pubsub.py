"""``prism pubsub`` against an in-process broker served through a real proxy endpoint."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from prism.cli.main import main
from prism.interfaces import pubsub_basic_pb2 as ps
from prism.proxy import ProxyServer, parse_config


class _Broker:
    """Minimal PubSub upstream: Publish fans out to live Subscribe streams."""

    def __init__(self) -> None:
        self.queues: list[asyncio.Queue[ps.Message]] = []
        self.count = 0

    async def publish(self, request: ps.PublishRequest, context: Any) -> ps.PublishResponse:
        self.count += 1
        msg = ps.Message(topic=request.topic, message_id=str(self.count), payload=request.payload)
        for q in self.queues:
            q.put_nowait(msg)
        return ps.PublishResponse(message_id=str(self.count))

    async def subscribe(self, request: ps.SubscribeRequest, context: Any) -> None:
        q: asyncio.Queue[ps.Message] = asyncio.Queue()
        self.queues.append(q)
        await context.send_initial_metadata((("prism-subscribed", "1"),))
        while True:
            await context.write(await q.get())


@pytest.fixture(scope="module")
def addr() -> Iterator[str]:
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def serve() -> None:
        broker = _Broker()
        server = grpc.aio.server()
        server.add_generic_rpc_handlers(
            [
                grpc.method_handlers_generic_handler(
                    "prism.PubSubBasicInterface",
                    {
                        "Publish": grpc.unary_unary_rpc_method_handler(
                            broker.publish,
                            ps.PublishRequest.FromString,
                            ps.PublishResponse.SerializeToString,
                        ),
                        "Subscribe": grpc.unary_stream_rpc_method_handler(
                            broker.subscribe,
                            ps.SubscribeRequest.FromString,
                            ps.Message.SerializeToString,
                        ),
                    },
                )
            ]
        )
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        proxy = ProxyServer(
            parse_config({"port": 0, "namespaces": {"default": {"endpoint": f"127.0.0.1:{port}"}}})
        )
        await proxy.start()
        holder["addr"] = proxy.address
        holder["stop"] = asyncio.Event()
        holder["loop"] = asyncio.get_running_loop()
        ready.set()
        await holder["stop"].wait()
        await proxy.stop(0.5)
        await server.stop(0)

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(30)
    yield holder["addr"]
    holder["loop"].call_soon_threadsafe(holder["stop"].set)
    thread.join(10)


def test_publish_and_subscribe(addr: str, capsys: pytest.CaptureFixture[str]) -> None:
    result: dict[str, Any] = {}

    def subscribe() -> None:
        try:
            main(["pubsub", "subscribe", "--addr", addr, "news", "--count", "2", "--for", "20"])
        except SystemExit as exc:
            result["code"] = exc.code

    sub = threading.Thread(target=subscribe)
    sub.start()
    # Publish until the subscriber (which prints once subscribed) has both messages.
    published = 0
    while sub.is_alive() and published < 50:
        with pytest.raises(SystemExit):
            main(["pubsub", "publish", "--addr", addr, "news", f"m{published}"])
        published += 1
        sub.join(0.1)
    sub.join(20)
    assert result.get("code") == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    received = [line for line in lines if line.startswith("m")]
    assert len(received) == 2 and received == sorted(received, key=lambda s: int(s[1:]))

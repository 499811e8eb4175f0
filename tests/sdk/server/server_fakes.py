"""In-test servicers for the server/plugin tests: a dict-backed KeyValueBasic and a stream."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from prism.interfaces import keyvalue_basic_pb2 as kv_pb
from prism.interfaces import keyvalue_basic_pb2_grpc as kv_grpc
from prism.interfaces import pubsub_basic_pb2 as ps_pb
from prism.interfaces import pubsub_basic_pb2_grpc as ps_grpc
from prism.sdk.deadline import time_remaining
from prism.sdk.errors import InvalidArgumentError, NotFoundError, UnavailableError
from prism.sdk.server import ServiceBinding, current_request_id

KV_SERVICE = "prism.KeyValueBasicInterface"
PS_SERVICE = "prism.PubSubBasicInterface"
SECRET = "s3cr3t-internal-detail"


class BackendDown(Exception):
    """A 'backend' exception type that a plugin classifier maps to UNAVAILABLE."""


class DictKV(kv_grpc.KeyValueBasicInterfaceServicer):
    """KeyValueBasic over a dict; magic keys trigger failures for the tests."""

    def __init__(self) -> None:
        self.data: dict[tuple[str, str], kv_pb.GetResponse] = {}
        self.seen_remaining: float | None = None
        self.seen_request_id: str | None = None
        self.release = asyncio.Event()
        self.entered = asyncio.Event()

    async def Set(self, req: kv_pb.SetRequest, ctx: Any) -> kv_pb.SetResponse:  # noqa: N802
        if not req.key:
            raise InvalidArgumentError("key must not be empty")
        created = (req.namespace, req.key) not in self.data
        self.data[req.namespace, req.key] = kv_pb.GetResponse(value=req.value, tags=req.tags)
        return kv_pb.SetResponse(created=created)

    async def Get(self, req: kv_pb.GetRequest, ctx: Any) -> kv_pb.GetResponse:  # noqa: N802
        self.seen_remaining = time_remaining()
        self.seen_request_id = current_request_id()
        if req.key == "boom":
            raise RuntimeError(SECRET)
        if req.key == "backend-down":
            raise BackendDown("connection refused")
        if req.key == "abort":
            await ctx.abort(grpc.StatusCode.PERMISSION_DENIED, "handler aborted")
        if req.key == "block":
            self.entered.set()
            await self.release.wait()
        try:
            return self.data[req.namespace, req.key]
        except KeyError:
            raise NotFoundError(f"key {req.key!r} not found") from None

    async def Delete(self, req: kv_pb.DeleteRequest, ctx: Any) -> kv_pb.DeleteResponse:  # noqa: N802
        deleted = self.data.pop((req.namespace, req.key), None) is not None
        return kv_pb.DeleteResponse(deleted=deleted)

    async def Exists(self, req: kv_pb.ExistsRequest, ctx: Any) -> kv_pb.ExistsResponse:  # noqa: N802
        return kv_pb.ExistsResponse(exists=(req.namespace, req.key) in self.data)


class Streamer(ps_grpc.PubSubBasicInterfaceServicer):
    """Subscribe yields 3 messages; topic picks how it ends (ok, PrismError, crash, write())."""

    def Subscribe(self, req: ps_pb.SubscribeRequest, ctx: Any) -> Any:  # noqa: N802
        if req.topic == "write":
            return self._write_style(ctx)
        return self._gen(req.topic)

    async def _write_style(self, ctx: Any) -> None:
        for i in range(2):
            await ctx.write(ps_pb.Message(topic="write", message_id=str(i)))
        raise UnavailableError("stream backend went away")

    async def _gen(self, topic: str) -> Any:
        for i in range(3):
            yield ps_pb.Message(topic=topic, message_id=str(i))
        if topic == "prism-error":
            raise UnavailableError("broker lost mid-stream")
        if topic == "crash":
            raise RuntimeError(SECRET)

    async def Publish(self, req: ps_pb.PublishRequest, ctx: Any) -> ps_pb.PublishResponse:  # noqa: N802
        return ps_pb.PublishResponse(message_id="1")

    async def Ack(self, req: ps_pb.AckRequest, ctx: Any) -> ps_pb.AckResponse:  # noqa: N802
        return ps_pb.AckResponse(acknowledged=0)

    async def Unsubscribe(  # noqa: N802
        self, req: ps_pb.UnsubscribeRequest, ctx: Any
    ) -> ps_pb.UnsubscribeResponse:
        return ps_pb.UnsubscribeResponse(unsubscribed=False)


def kv_binding(servicer: DictKV) -> ServiceBinding:
    add = kv_grpc.add_KeyValueBasicInterfaceServicer_to_server
    return ServiceBinding(add, servicer, KV_SERVICE)


def ps_binding(servicer: Streamer) -> ServiceBinding:
    return ServiceBinding(ps_grpc.add_PubSubBasicInterfaceServicer_to_server, servicer, PS_SERVICE)

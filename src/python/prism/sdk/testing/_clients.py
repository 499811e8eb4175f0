"""Thin clients over the contract stubs: fill in the namespace, bound every call in time.

The conformance tests read as a list of contract rules; these wrappers keep deadlines,
``asyncio.wait_for`` bounds and stream handling out of them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import grpc

from prism.interfaces import (
    keyvalue_basic_pb2,
    keyvalue_basic_pb2_grpc,
    keyvalue_scan_pb2,
    keyvalue_scan_pb2_grpc,
    keyvalue_ttl_pb2,
    keyvalue_ttl_pb2_grpc,
    pubsub_basic_pb2,
    pubsub_basic_pb2_grpc,
)
from prism.sdk.testing._stream import StreamReader
from prism.sdk.testing._support import bounded, expect_status


class KVClient:
    """KeyValueBasic + TTL + Scan calls against one namespace, each bounded by ``timeout``."""

    def __init__(self, channel: Any, namespace: str, timeout: float) -> None:
        self.namespace = namespace
        self.timeout = timeout
        self.basic = keyvalue_basic_pb2_grpc.KeyValueBasicInterfaceStub(channel)
        self.ttl = keyvalue_ttl_pb2_grpc.KeyValueTTLInterfaceStub(channel)
        self.scanner = keyvalue_scan_pb2_grpc.KeyValueScanInterfaceStub(channel)

    async def _call(self, call: Awaitable[Any], what: str) -> Any:
        return await bounded(call, self.timeout, what)

    async def expect(self, code: Any, call: Awaitable[Any], what: str) -> Any:
        """Await ``call``, which must fail with ``code``; returns the error."""
        return await expect_status(call, code, self.timeout, what)

    def set_call(
        self,
        key: str,
        value: bytes = b"",
        *,
        ttl: float | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Any:
        request = keyvalue_basic_pb2.SetRequest(
            namespace=self.namespace, key=key, value=value, tags=dict(tags or {})
        )
        if ttl is not None:
            request.ttl_seconds = ttl
        return self.basic.Set(request, timeout=self.timeout)

    async def set(
        self,
        key: str,
        value: bytes = b"",
        *,
        ttl: float | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> bool:
        """Set; returns ``created``."""
        response = await self._call(self.set_call(key, value, ttl=ttl, tags=tags), "Set")
        return bool(response.created)

    def get_call(self, key: str) -> Any:
        request = keyvalue_basic_pb2.GetRequest(namespace=self.namespace, key=key)
        return self.basic.Get(request, timeout=self.timeout)

    async def get(self, key: str) -> keyvalue_basic_pb2.GetResponse:
        response: keyvalue_basic_pb2.GetResponse = await self._call(self.get_call(key), "Get")
        return response

    async def get_or_none(self, key: str) -> keyvalue_basic_pb2.GetResponse | None:
        """Get, mapping NOT_FOUND to None (any other error fails the test)."""
        try:
            return await self.get(key)
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise

    def delete_call(self, key: str) -> Any:
        request = keyvalue_basic_pb2.DeleteRequest(namespace=self.namespace, key=key)
        return self.basic.Delete(request, timeout=self.timeout)

    async def delete(self, key: str) -> bool:
        """Delete; returns ``deleted``."""
        return bool((await self._call(self.delete_call(key), "Delete")).deleted)

    def exists_call(self, key: str) -> Any:
        request = keyvalue_basic_pb2.ExistsRequest(namespace=self.namespace, key=key)
        return self.basic.Exists(request, timeout=self.timeout)

    async def exists(self, key: str) -> bool:
        return bool((await self._call(self.exists_call(key), "Exists")).exists)

    def expire_call(self, key: str, ttl: float) -> Any:
        request = keyvalue_ttl_pb2.ExpireRequest(namespace=self.namespace, key=key, ttl_seconds=ttl)
        return self.ttl.Expire(request, timeout=self.timeout)

    async def expire(self, key: str, ttl: float) -> None:
        await self._call(self.expire_call(key, ttl), "Expire")

    def get_ttl_call(self, key: str) -> Any:
        request = keyvalue_ttl_pb2.GetTTLRequest(namespace=self.namespace, key=key)
        return self.ttl.GetTTL(request, timeout=self.timeout)

    async def get_ttl(self, key: str) -> keyvalue_ttl_pb2.GetTTLResponse:
        response: keyvalue_ttl_pb2.GetTTLResponse = await self._call(
            self.get_ttl_call(key), "GetTTL"
        )
        return response

    def persist_call(self, key: str) -> Any:
        request = keyvalue_ttl_pb2.PersistRequest(namespace=self.namespace, key=key)
        return self.ttl.Persist(request, timeout=self.timeout)

    async def persist(self, key: str) -> bool:
        """Persist; returns ``persisted``."""
        return bool((await self._call(self.persist_call(key), "Persist")).persisted)

    async def scan(
        self, prefix: str, *, limit: int = 0, cursor: str = "", keys_only: bool = False
    ) -> list[keyvalue_scan_pb2.ScanItem]:
        """The whole scan stream as a list (bounded in time as one call)."""
        request = keyvalue_scan_pb2.ScanRequest(
            namespace=self.namespace,
            prefix=prefix,
            limit=limit,
            cursor=cursor,
            keys_only=keys_only,
        )

        async def collect() -> list[keyvalue_scan_pb2.ScanItem]:
            return [item async for item in self.scanner.Scan(request, timeout=self.timeout)]

        return await self._call(collect(), "Scan")  # type: ignore[no-any-return]

    async def count(self, prefix: str) -> int:
        request = keyvalue_scan_pb2.CountRequest(namespace=self.namespace, prefix=prefix)
        response = await self._call(self.scanner.Count(request, timeout=self.timeout), "Count")
        return int(response.count)


class Subscription(StreamReader[pubsub_basic_pb2.Message]):
    """An active Subscribe stream. With ``ack`` (the default) :meth:`receive` acknowledges
    each message it returns, as a client that processed it would."""

    def __init__(
        self,
        call: Any,
        what: str,
        ack: Callable[[Sequence[str]], Awaitable[int]] | None = None,
    ) -> None:
        super().__init__(call, what, pubsub_basic_pb2.Message)
        self._ack = ack

    async def receive(self, timeout: float) -> pubsub_basic_pb2.Message:
        item = await super().receive(timeout)
        if self._ack is not None and item.ack_id:
            await self._ack([item.ack_id])
        return item


class PubSubClient:
    """PubSubBasic calls against one namespace; tracks subscriptions to cancel at teardown."""

    def __init__(self, channel: Any, namespace: str, timeout: float, ready_timeout: float) -> None:
        self.namespace = namespace
        self.timeout = timeout
        self.ready_timeout = ready_timeout
        self.stub = pubsub_basic_pb2_grpc.PubSubBasicInterfaceStub(channel)
        self._subscriptions: list[Subscription] = []

    def publish_call(
        self,
        topic: str,
        payload: bytes,
        metadata: Mapping[str, str] | None = None,
        ordering_key: str = "",
    ) -> Any:
        request = pubsub_basic_pb2.PublishRequest(
            namespace=self.namespace,
            topic=topic,
            payload=payload,
            metadata=dict(metadata or {}),
            ordering_key=ordering_key,
        )
        return self.stub.Publish(request, timeout=self.timeout)

    async def publish(
        self,
        topic: str,
        payload: bytes,
        metadata: Mapping[str, str] | None = None,
        ordering_key: str = "",
    ) -> str:
        """Publish; returns the message id."""
        call = self.publish_call(topic, payload, metadata, ordering_key)
        response = await bounded(call, self.timeout, "Publish")
        return str(response.message_id)

    def subscribe_call(self, topic: str, subscriber_id: str, **options: Any) -> Any:
        """``options``: SubscribeRequest's ack_mode, ack_deadline_ms, max_outstanding."""
        request = pubsub_basic_pb2.SubscribeRequest(
            namespace=self.namespace, topic=topic, subscriber_id=subscriber_id, **options
        )
        return self.stub.Subscribe(request)

    async def subscribe(
        self, topic: str, subscriber_id: str, *, ack: bool = True, **options: Any
    ) -> Subscription:
        """Subscribe and wait until the server reports the subscription active.

        Readiness rule: the server sends the call's initial metadata once the subscription is
        active, so every message published after ``initial_metadata()`` returns is delivered.
        With ``ack`` each received message is acknowledged; ``options`` go to the request.
        """
        call = self.subscribe_call(topic, subscriber_id, **options)
        what = f"Subscribe({topic!r}, {subscriber_id!r})"

        async def acknowledge(ack_ids: Sequence[str]) -> int:
            return await self.ack(topic, subscriber_id, ack_ids)

        subscription = Subscription(call, what, acknowledge if ack else None)
        self._subscriptions.append(subscription)
        await bounded(
            call.initial_metadata(), self.ready_timeout, f"{what} initial metadata (readiness)"
        )
        return subscription

    def ack_call(self, topic: str, subscriber_id: str, ack_ids: Sequence[str]) -> Any:
        request = pubsub_basic_pb2.AckRequest(
            namespace=self.namespace, topic=topic, subscriber_id=subscriber_id, ack_ids=ack_ids
        )
        return self.stub.Ack(request, timeout=self.timeout)

    async def ack(self, topic: str, subscriber_id: str, ack_ids: Sequence[str]) -> int:
        """Ack; returns how many ids acknowledged an outstanding message."""
        call = self.ack_call(topic, subscriber_id, ack_ids)
        return int((await bounded(call, self.timeout, "Ack")).acknowledged)

    async def unsubscribe(self, topic: str, subscriber_id: str) -> bool:
        request = pubsub_basic_pb2.UnsubscribeRequest(
            namespace=self.namespace, topic=topic, subscriber_id=subscriber_id
        )
        call = self.stub.Unsubscribe(request, timeout=self.timeout)
        return bool((await bounded(call, self.timeout, "Unsubscribe")).unsubscribed)

    async def expect(self, code: Any, call: Awaitable[Any], what: str) -> Any:
        return await expect_status(call, code, self.timeout, what)

    async def __aenter__(self) -> PubSubClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Cancel every subscription this client opened."""
        for subscription in self._subscriptions:
            await subscription.close()
        self._subscriptions.clear()

"""NatsMessaging: the multicast messaging slot over NATS request/reply, a subject per identity.

Delivery is confirmed by the receiver, not assumed at publish: Multicast sends a request to
the identity's subject; a receiver replies when its reader takes the message off the
subscription (the servicer then writes it to the Receive stream), so a subscription nobody
reads does not count. No subscriber at all is NATS's "no responders" status (NO_RECEIVER); a
receiver that does not confirm within ``delivery_timeout`` is FAILED. A batch is sent as one
burst: every request is buffered, then one flush, then one wait for all the replies, which
arrive on one wildcard inbox subscription per connection (not a task and a timer per identity). Subjects are
``prism.mc.<namespace>.<identity>`` with both tokens base64url-encoded, so any identity is a
valid single token (no ``.``, ``*`` or ``>`` inside).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
from collections.abc import AsyncIterator, Sequence

import nats.errors
from nats.aio.client import NO_RESPONDERS_STATUS, Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import Header

from prism.plugins.nats.connection import NatsBackend
from prism.sdk.errors import reraise_classified
from prism.sdk.patterns import Delivery, Outcome

DELIVERY_TIMEOUT = 1.0


def _token(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=") or "_"


def subject(namespace: str, identity: str) -> str:
    return f"prism.mc.{_token(namespace)}.{_token(identity)}"


class NatsReceiver:
    """Implements prism.sdk.patterns.Receiver: a subscription on the shared connection."""

    def __init__(self, backend: NatsBackend, name: str) -> None:
        self.backend, self.subject = backend, name
        self._sub: Subscription | None = None
        self._closed = False

    async def start(self) -> None:
        async def subscribe(client: Client) -> Subscription:
            sub = await client.subscribe(self.subject)
            await client.flush(timeout=2)  # the server has the SUB: requests now reach us
            return sub

        self._sub = await self.backend.run(subscribe)

    async def messages(self) -> AsyncIterator[Delivery]:
        sub = self._sub
        if sub is None:
            return
        with reraise_classified(self.backend.classifiers):
            async for msg in sub.messages:
                # The reader took it (the servicer is writing it to the Receive stream, a
                # direct user is handed it): confirm, then hand it over.
                if msg.reply:
                    try:
                        await msg.respond(b"")
                    except nats.errors.Error:
                        continue  # the sender counts it FAILED after its timeout
                yield Delivery.from_bytes(msg.data)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        sub, self._sub = self._sub, None
        if sub is not None:
            try:
                await sub.unsubscribe()
            except nats.errors.Error:
                pass  # connection gone: the server dropped the interest already


class _Replies:
    """The replies to one connection's requests: ``<inbox>.<token>`` -> the waiting future."""

    def __init__(self, client: Client) -> None:
        self.client, self.prefix = client, client.new_inbox()
        self.waiting: dict[str, asyncio.Future[Msg]] = {}
        self._tokens = itertools.count()

    async def start(self) -> None:
        await self.client.subscribe(self.prefix + ".*", cb=self._reply)

    async def _reply(self, msg: Msg) -> None:
        future = self.waiting.get(msg.subject[len(self.prefix) + 1 :])
        if future is not None and not future.done():
            future.set_result(msg)

    def expect(self) -> tuple[str, asyncio.Future[Msg]]:
        """A new reply subject and the future its reply resolves."""
        token = str(next(self._tokens))
        future: asyncio.Future[Msg] = asyncio.get_running_loop().create_future()
        self.waiting[token] = future
        return f"{self.prefix}.{token}", future

    def forget(self, reply: str) -> None:
        self.waiting.pop(reply[len(self.prefix) + 1 :], None)


def _outcome(future: asyncio.Future[Msg]) -> Outcome:
    if not future.done():
        return Outcome.FAILED  # a receiver exists but did not confirm in time
    headers = future.result().headers
    if headers and headers.get(Header.STATUS) == NO_RESPONDERS_STATUS:
        return Outcome.NO_RECEIVER
    return Outcome.DELIVERED


class NatsMessaging:
    """Implements prism.sdk.patterns.MessagingSlot."""

    def __init__(self, backend: NatsBackend, delivery_timeout: float = DELIVERY_TIMEOUT) -> None:
        self.backend, self.delivery_timeout = backend, delivery_timeout
        self._replies: _Replies | None = None
        self._lock = asyncio.Lock()

    async def _inbox(self, client: Client) -> _Replies:
        async with self._lock:  # the first batch subscribes; the others wait for it
            if self._replies is None or self._replies.client is not client:
                replies = _Replies(client)
                await replies.start()
                self._replies = replies
            return self._replies

    async def deliver(
        self, namespace: str, identities: Sequence[str], message: Delivery
    ) -> list[Outcome]:
        """The batch's requests buffered, one flush, then one wait for every reply."""
        data = message.to_bytes()

        async def batch(client: Client) -> list[Outcome]:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.delivery_timeout
            replies = await self._inbox(client)
            sent: list[tuple[str, asyncio.Future[Msg]]] = []
            try:
                for identity in identities:
                    reply, future = replies.expect()
                    sent.append((reply, future))
                    await client.publish(subject(namespace, identity), data, reply=reply)
                await client.flush(timeout=max(1, round(self.delivery_timeout)))
                if sent:
                    left = max(deadline - loop.time(), 0.0)
                    await asyncio.wait([f for _, f in sent], timeout=left)
                return [_outcome(future) for _, future in sent]
            finally:
                for reply, future in sent:
                    replies.forget(reply)
                    future.cancel()

        return await self.backend.run(batch)

    def receiver(self, namespace: str, identity: str) -> NatsReceiver:
        return NatsReceiver(self.backend, subject(namespace, identity))

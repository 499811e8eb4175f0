"""NatsMessaging: the multicast messaging slot over NATS request/reply, a subject per identity.

Delivery is confirmed by the receiver, not assumed at publish: Multicast sends a request to
the identity's subject; a receiver replies when its reader takes the message off the
subscription (the servicer then writes it to the Receive stream), so a subscription nobody
reads does not count. No subscriber at all is NATS's "no responders" status (NO_RECEIVER); a
receiver that does not confirm within ``delivery_timeout`` is FAILED. Subjects are
``prism.mc.<namespace>.<identity>`` with both tokens base64url-encoded, so any identity is a
valid single token (no ``.``, ``*`` or ``>`` inside).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Sequence

import nats.errors
from nats.aio.client import Client
from nats.aio.subscription import Subscription

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


class NatsMessaging:
    """Implements prism.sdk.patterns.MessagingSlot."""

    def __init__(self, backend: NatsBackend, delivery_timeout: float = DELIVERY_TIMEOUT) -> None:
        self.backend, self.delivery_timeout = backend, delivery_timeout

    async def deliver(
        self, namespace: str, identities: Sequence[str], message: Delivery
    ) -> list[Outcome]:
        """The batch's requests run concurrently on the one connection."""
        data = message.to_bytes()

        async def request(client: Client, identity: str) -> Outcome:
            try:
                await client.request(
                    subject(namespace, identity), data, timeout=self.delivery_timeout
                )
            except nats.errors.NoRespondersError:
                return Outcome.NO_RECEIVER
            except nats.errors.TimeoutError:
                return Outcome.FAILED
            return Outcome.DELIVERED

        async def batch(client: Client) -> list[Outcome]:
            return list(await asyncio.gather(*(request(client, i) for i in identities)))

        return await self.backend.run(batch)

    def receiver(self, namespace: str, identity: str) -> NatsReceiver:
        return NatsReceiver(self.backend, subject(namespace, identity))

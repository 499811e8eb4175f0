"""The multicast registry pattern: a coordinator over two slots, and its gRPC servicer.

Why: the coordinator logic (validation before any backend call, filter re-check, fan-out and
delivery accounting) must exist once; backends only fill two small slots. A *registry slot*
stores registrations with native expiry and lists them (it may pre-filter; the coordinator
re-checks every filter), and says from its metadata index alone which identities have a key
equal to one of some values (all a Multicast on EQ/IN terms of one key needs). A *messaging
slot* delivers a message to an identity's live receivers and says whether one took it, so
"delivered" means a receiver got it, never "we published it".

Direct use (no gRPC, e.g. the load tester)::

    coordinator = Coordinator(registry_slot, messaging_slot)
    await coordinator.register("ns", "device-1", {"region": "eu"}, ttl_seconds=60)
    result = await coordinator.multicast("ns", parse_filter(wire_filter), b"hi", {})
    result.targeted, result.delivered, result.no_receiver, result.failed, result.fanout_ms
    receiver = coordinator.receiver("ns", "device-1"); await receiver.start()
    async for message in receiver.messages(): ...   # message.send_time_us -> latency
    await receiver.close()

``prism.plugins.multicast.build_coordinator`` builds one from backend addresses.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from prism.interfaces import multicast_registry_pb2 as pb
from prism.interfaces import multicast_registry_pb2_grpc as pb_grpc
from prism.sdk.errors import UnavailableError
from prism.sdk.limits import (
    validate_identity,
    validate_metadata,
    validate_name,
    validate_page_size,
    validate_payload,
    validate_registration_ttl,
)
from prism.sdk.patterns.pubsub import SUBSCRIBED_METADATA
from prism.sdk.patterns.registry_filter import Filter, parse_filter
from prism.sdk.server import ServiceBinding

__all__ = [
    "Coordinator",
    "Delivery",
    "MessagingSlot",
    "MulticastRegistryServicer",
    "MulticastResult",
    "Outcome",
    "Receiver",
    "Registered",
    "RegistrySlot",
    "multicast_registry_binding",
]

_log = logging.getLogger(__name__)

FANOUT_BATCH = 128
"""Identities per MessagingSlot.deliver call."""
FANOUT_CONCURRENCY = 16
"""Batches in flight at once during one Multicast."""

DRAINING_MESSAGE = "plugin draining: receiver ended, call Receive again"


@dataclass(frozen=True)
class Registered:
    """A live registration as a registry slot returns it."""

    identity: str
    metadata: Mapping[str, str] = field(default_factory=dict)
    expire_time_ms: int = 0  # 0 = never


@dataclass(frozen=True)
class Delivery:
    """One multicast message on its way to an identity."""

    message_id: str
    payload: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    send_time_us: int = 0

    def to_bytes(self) -> bytes:
        """The ``prism.MulticastMessage`` wire form, for slots that carry it over a network."""
        wire = pb.MulticastMessage(
            message_id=self.message_id,
            payload=self.payload,
            headers=dict(self.headers),
            send_time_us=self.send_time_us,
        )
        return bytes(wire.SerializeToString())

    @classmethod
    def from_bytes(cls, data: bytes) -> Delivery:
        wire = pb.MulticastMessage.FromString(data)
        return cls(wire.message_id, wire.payload, dict(wire.headers), wire.send_time_us)


class Outcome(enum.Enum):
    DELIVERED = "delivered"  # at least one live receiver took it
    NO_RECEIVER = "no_receiver"  # no live receiver for the identity
    FAILED = "failed"  # receivers exist but none could take it (e.g. buffers full)


class RegistrySlot(Protocol):
    """Where registrations live. Inputs arrive validated; expired entries are never returned."""

    async def put(
        self, namespace: str, identity: str, metadata: Mapping[str, str], ttl_seconds: float
    ) -> bool:
        """Replace the registration (``ttl_seconds`` 0 = never expires); True if it was new."""
        ...

    async def delete(self, namespace: str, identity: str) -> bool:
        """True when a live registration was removed."""
        ...

    async def get(self, namespace: str, identity: str) -> Registered | None: ...

    def scan(self, namespace: str, where: Filter) -> AsyncIterator[Registered]:
        """Live registrations; may skip ones ``where`` rejects (the coordinator re-checks)."""
        ...

    def identities(self, namespace: str, key: str, values: Sequence[str]) -> AsyncIterator[str]:
        """Live identities whose ``key`` is one of ``values``, each once, from the metadata
        index alone (no registration read): a Multicast whose filter the index answers
        completely (:meth:`Filter.index_answer`) needs only the identities."""
        ...


class Receiver(Protocol):
    """One live receiver of an identity's messages, opened by :meth:`MessagingSlot.receiver`."""

    async def start(self) -> None:
        """Return once live: deliveries from then on reach it."""
        ...

    def messages(self) -> AsyncIterator[Delivery]:
        """Delivered messages, until :meth:`close` (which ends the iteration)."""
        ...

    async def close(self) -> None:
        """Stop receiving (idempotent)."""
        ...


class MessagingSlot(Protocol):
    async def deliver(
        self, namespace: str, identities: Sequence[str], message: Delivery
    ) -> list[Outcome]:
        """Hand ``message`` to each identity's live receivers (one outcome per identity, in
        order); raise on a backend failure. A batch lets a backend pipeline the sends."""
        ...

    def receiver(self, namespace: str, identity: str) -> Receiver: ...


@dataclass(frozen=True)
class MulticastResult:
    targeted: int = 0
    delivered: int = 0
    no_receiver: int = 0
    failed: int = 0
    fanout_ms: float = 0.0

    @property
    def delivery_rate(self) -> float:
        """Delivered / targeted (1.0 when nothing was targeted)."""
        return self.delivered / self.targeted if self.targeted else 1.0


class Coordinator:
    """The pattern's logic over a registry slot and a messaging slot.

    Every input is validated before any slot call, so a bad request never half-registers.
    """

    def __init__(
        self,
        registry: RegistrySlot,
        messaging: MessagingSlot,
        *,
        fanout_concurrency: int = FANOUT_CONCURRENCY,
    ) -> None:
        self.registry, self.messaging = registry, messaging
        self._fanout = asyncio.Semaphore(fanout_concurrency)

    async def register(
        self, namespace: str, identity: str, metadata: Mapping[str, str], ttl_seconds: float = 0
    ) -> bool:
        """True when the identity was not registered before."""
        validate_name("namespace", namespace)
        validate_identity(identity)
        validate_metadata("metadata", metadata)
        validate_registration_ttl(ttl_seconds)
        return await self.registry.put(namespace, identity, dict(metadata), ttl_seconds)

    async def unregister(self, namespace: str, identity: str) -> bool:
        validate_name("namespace", namespace)
        validate_identity(identity)
        return await self.registry.delete(namespace, identity)

    async def enumerate(
        self, namespace: str, where: Filter, page_size: int = 0
    ) -> AsyncIterator[list[Registered]]:
        """Pages of matching registrations (at most ``page_size`` each, 0 = default)."""
        validate_name("namespace", namespace)
        size = validate_page_size(page_size)
        page: list[Registered] = []
        async for entry in self.registry.scan(namespace, where):
            if where.matches(entry.metadata):
                page.append(entry)
                if len(page) >= size:
                    yield page
                    page = []
        if page:
            yield page

    async def multicast(
        self, namespace: str, where: Filter, payload: bytes, headers: Mapping[str, str]
    ) -> MulticastResult:
        """Deliver to every matching identity; raises when every delivery failed with an error
        (the messaging backend is down: UNAVAILABLE, not a page of "failed")."""
        validate_name("namespace", namespace)
        validate_payload(payload)
        validate_metadata("headers", headers)
        started = time.perf_counter()
        message = Delivery(uuid.uuid4().hex, payload, dict(headers), time.time_ns() // 1000)
        tasks: list[tuple[int, asyncio.Task[list[Outcome]]]] = []
        batch: list[str] = []
        try:
            async for identity in self._targets(namespace, where):
                batch.append(identity)
                if len(batch) >= FANOUT_BATCH:
                    tasks.append((len(batch), await self._send(namespace, batch, message)))
                    batch = []
            if batch:
                tasks.append((len(batch), await self._send(namespace, batch, message)))
        except BaseException:
            for _, task in tasks:
                task.cancel()
            await asyncio.gather(*(task for _, task in tasks), return_exceptions=True)
            raise
        results: Sequence[list[Outcome] | BaseException] = await asyncio.gather(
            *(task for _, task in tasks), return_exceptions=True
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors and len(errors) == len(results):
            raise errors[0]
        outcomes = [o for r in results if not isinstance(r, BaseException) for o in r]
        failed_by_error = sum(
            size
            for (size, _), r in zip(tasks, results, strict=True)
            if isinstance(r, BaseException)
        )
        for error in errors[:1]:
            _log.warning("multicast: %d targets failed: %r", failed_by_error, error)
        return MulticastResult(
            targeted=len(outcomes) + failed_by_error,
            delivered=outcomes.count(Outcome.DELIVERED),
            no_receiver=outcomes.count(Outcome.NO_RECEIVER),
            failed=failed_by_error + outcomes.count(Outcome.FAILED),
            fanout_ms=(time.perf_counter() - started) * 1000,
        )

    async def _targets(self, namespace: str, where: Filter) -> AsyncIterator[str]:
        """The matching identities: from the metadata index alone when it answers ``where``
        completely, else from each registration the slot returns, re-checked."""
        answer = where.index_answer()
        if answer is not None:
            async for identity in self.registry.identities(namespace, *answer):
                yield identity
            return
        async for entry in self.registry.scan(namespace, where):
            if where.matches(entry.metadata):
                yield entry.identity

    async def _send(
        self, namespace: str, identities: list[str], message: Delivery
    ) -> asyncio.Task[list[Outcome]]:
        """Start one batch once a slot is free (bounds the batches in flight)."""
        await self._fanout.acquire()

        async def run() -> list[Outcome]:
            try:
                outcomes = await self.messaging.deliver(namespace, identities, message)
            finally:
                self._fanout.release()
            if len(outcomes) != len(identities):
                raise RuntimeError(f"{len(outcomes)} outcomes for {len(identities)} identities")
            return outcomes

        return asyncio.ensure_future(run())

    def receiver(self, namespace: str, identity: str) -> Receiver:
        validate_name("namespace", namespace)
        validate_identity(identity)
        return self.messaging.receiver(namespace, identity)


def _registration(entry: Registered) -> pb.Registration:
    return pb.Registration(
        identity=entry.identity, metadata=dict(entry.metadata), expire_time_ms=entry.expire_time_ms
    )


class MulticastRegistryServicer(pb_grpc.MulticastRegistryInterfaceServicer):
    """``prism.MulticastRegistryInterface`` over a :class:`Coordinator`.

    Draining ends every live Receive stream with UNAVAILABLE :data:`DRAINING_MESSAGE` (the
    receiver did not ask to stop, so the status tells it to call Receive again).
    """

    def __init__(self, coordinator: Callable[[], Coordinator]) -> None:
        self._coordinator = coordinator  # called per request: built after this servicer
        self._receivers: set[Receiver] = set()
        self._draining = False

    @property
    def active_receivers(self) -> int:
        return len(self._receivers)

    def on_drain_start(self) -> None:
        self._draining = True
        for receiver in list(self._receivers):
            asyncio.ensure_future(receiver.close())

    async def Register(  # noqa: N802 (gRPC method name)
        self, request: pb.RegisterRequest, context: Any
    ) -> pb.RegisterResponse:
        created = await self._coordinator().register(
            request.namespace, request.identity, dict(request.metadata), request.ttl_seconds
        )
        return pb.RegisterResponse(created=created)

    async def Unregister(  # noqa: N802
        self, request: pb.UnregisterRequest, context: Any
    ) -> pb.UnregisterResponse:
        removed = await self._coordinator().unregister(request.namespace, request.identity)
        return pb.UnregisterResponse(unregistered=removed)

    async def Enumerate(  # noqa: N802
        self, request: pb.EnumerateRequest, context: Any
    ) -> AsyncIterator[pb.EnumerateResponse]:
        where = parse_filter(request.filter)
        pages = self._coordinator().enumerate(request.namespace, where, request.page_size)
        async for page in pages:
            yield pb.EnumerateResponse(registrations=[_registration(e) for e in page])

    async def Multicast(  # noqa: N802
        self, request: pb.MulticastRequest, context: Any
    ) -> pb.MulticastResponse:
        where = parse_filter(request.filter)
        result = await self._coordinator().multicast(
            request.namespace, where, request.payload, dict(request.headers)
        )
        return pb.MulticastResponse(
            targeted=result.targeted,
            delivered=result.delivered,
            no_receiver=result.no_receiver,
            failed=result.failed,
            fanout_ms=result.fanout_ms,
        )

    async def Receive(  # noqa: N802
        self, request: pb.ReceiveRequest, context: Any
    ) -> AsyncIterator[pb.MulticastMessage]:
        if self._draining:
            raise UnavailableError(DRAINING_MESSAGE)
        receiver = self._coordinator().receiver(request.namespace, request.identity)
        self._receivers.add(receiver)
        try:
            await receiver.start()
            await context.send_initial_metadata(SUBSCRIBED_METADATA)
            async for message in receiver.messages():
                yield pb.MulticastMessage(
                    message_id=message.message_id,
                    payload=message.payload,
                    headers=dict(message.headers),
                    send_time_us=message.send_time_us,
                )
            if self._draining:
                raise UnavailableError(DRAINING_MESSAGE)
        finally:
            self._receivers.discard(receiver)
            await receiver.close()


def multicast_registry_binding(coordinator: Callable[[], Coordinator]) -> ServiceBinding:
    """The binding that serves ``prism.MulticastRegistryInterface`` over ``coordinator()``."""
    return ServiceBinding(
        pb_grpc.add_MulticastRegistryInterfaceServicer_to_server,
        MulticastRegistryServicer(coordinator),
        pb.DESCRIPTOR.services_by_name["MulticastRegistryInterface"].full_name,
    )

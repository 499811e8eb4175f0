"""The multicast registry scenarios: register, enumerate, multicast, or a mix, on the Coordinator.

They drive ``prism.sdk.patterns.Coordinator`` (the one a registry plugin serves, from its
``Plugin.registry()``) directly: pattern logic plus backends, no gRPC (MEMO-013's
pattern tier). Identities ``id-000000`` ... live in a namespace of the run's own, each in one of
``groups`` groups (metadata ``group``); enumerate and multicast target one group per call.

Why delivery is counted at receipt: a multicast is only delivered when a live receiver got it
(upstream counted a publish as delivered). Runs that multicast open one live receiver per
identity before the first operation and count what each receiver actually reads; the payload
carries the multicast's sequence number and *intended* start, so end-to-end delivery latency is
measured open-loop like the operations. Registers in a mix re-register identities of the same
pool (same group), so every targeted identity has a live receiver.
"""

from __future__ import annotations

import asyncio
import logging
import random
import struct
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prism.interfaces import multicast_registry_pb2 as pb
from prism.loadtest.runner import Operation
from prism.loadtest.stats import LatencyHistogram
from prism.sdk.patterns import Coordinator, Filter, Receiver, parse_filter

__all__ = ["OPERATIONS", "DeliveryStats", "RegistryScenario"]

_log = logging.getLogger(__name__)

OPERATIONS = ("register", "enumerate", "multicast")
SETUP_BATCH = 128
RECEIVER_BATCH = 8  # receivers started at once (each within the slot's connect/subscribe timeout)
TEARDOWN_WAIT_S = 5.0
_HEADER = struct.Struct(">Qd")  # multicast sequence number, intended start (perf_counter s)


@dataclass
class DeliveryStats:
    """What multicasts targeted, what the slot reported, and what receivers really read."""

    targets: dict[int, int] = field(default_factory=dict)  # seq -> targeted (successful calls)
    slot_delivered: int = 0
    no_receiver: int = 0
    slot_failed: int = 0
    received: dict[int, set[int]] = field(default_factory=dict)  # seq -> identity indexes
    duplicates: int = 0
    receiver_errors: int = 0
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    fanout: LatencyHistogram = field(default_factory=LatencyHistogram)

    def delivered(self) -> int:
        """Receipts of completed multicasts (a receipt can beat its call's return)."""
        return sum(len(self.received.get(seq, ())) for seq in self.targets)


class RegistryScenario:
    """Operations picked at random with weights ``mix`` (register/enumerate/multicast)."""

    def __init__(
        self,
        coordinator: Coordinator,
        *,
        mix: Mapping[str, float],
        identities: int = 1000,
        groups: int = 10,
        ttl_seconds: float = 300.0,
        payload_size: int = 64,
        page_size: int = 0,
        namespace: str | None = None,
        seed: int | None = None,
    ) -> None:
        weights = {op: float(mix.get(op, 0.0)) for op in OPERATIONS}
        if set(mix) - set(OPERATIONS) or min(weights.values()) < 0 or sum(weights.values()) <= 0:
            raise ValueError(f"mix needs non-negative weights for {OPERATIONS}, some positive")
        if identities < 1 or not 1 <= groups <= identities or ttl_seconds < 0:
            raise ValueError("need identities >= 1, 1 <= groups <= identities and ttl >= 0")
        self.coordinator = coordinator
        self.ops = [op for op in OPERATIONS if weights[op] > 0]
        self.weights = [weights[op] for op in self.ops]
        self.identities, self.groups, self.ttl_seconds = identities, groups, ttl_seconds
        self.payload_size = max(payload_size, _HEADER.size)
        self._padding = b"\0" * (self.payload_size - _HEADER.size)
        self.page_size = page_size
        self.namespace = namespace or f"loadtest-{uuid.uuid4().hex[:8]}"
        self._random = random.Random(seed)
        self._filters = [self._group_filter(g) for g in range(groups)]
        self.needs_messaging = "multicast" in self.ops
        self.preload = self.ops != ["register"]  # enumerate/multicast need identities to find
        self._next_identity = 0
        self._next_group = 0
        self._next_seq = 0
        self._touched = 0  # identities 0 .. _touched-1 may be registered (teardown removes them)
        self.registered = 0
        self.enumerated = 0
        self.enumerate_calls = 0
        self.delivery = DeliveryStats()
        self.settle_seconds = 0.0
        self._receivers: list[Receiver] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False

    @staticmethod
    def _group_filter(group: int) -> Filter:
        condition = pb.FilterCondition(key="group", op=pb.FILTER_OP_EQ, values=[f"g{group}"])
        return parse_filter(pb.Filter(conditions=[condition]))

    def identity(self, index: int) -> str:
        return f"id-{index:06d}"

    def metadata(self, index: int) -> dict[str, str]:
        return {"group": f"g{index % self.groups}", "index": str(index)}

    async def _register(self, index: int) -> None:
        self._touched = max(self._touched, index + 1)
        await self.coordinator.register(
            self.namespace, self.identity(index), self.metadata(index), self.ttl_seconds
        )

    async def setup(self, say: Callable[[str], None] = lambda _: None) -> None:
        """Register every identity (unless the run only registers); open live receivers for
        runs that multicast, each confirmed live before the first operation."""
        started = time.perf_counter()
        if self.preload:
            say(f"registering {self.identities} identities in {self.namespace}")
            for first in range(0, self.identities, SETUP_BATCH):
                last = min(first + SETUP_BATCH, self.identities)
                await asyncio.gather(*(self._register(i) for i in range(first, last)))
        if self.needs_messaging:
            say(f"opening {self.identities} live receivers")
            for first in range(0, self.identities, RECEIVER_BATCH):
                last = min(first + RECEIVER_BATCH, self.identities)
                opened = [
                    self.coordinator.receiver(self.namespace, self.identity(i))
                    for i in range(first, last)
                ]
                self._receivers.extend(opened)  # closed by teardown even if start() fails
                await asyncio.gather(*(r.start() for r in opened))
                self._tasks.extend(
                    asyncio.ensure_future(self._consume(first + k, r)) for k, r in enumerate(opened)
                )
        if self.preload or self.needs_messaging:
            say(f"setup done in {time.perf_counter() - started:.1f} s")

    async def _consume(self, index: int, receiver: Receiver) -> None:
        stats = self.delivery
        while True:
            try:
                async for message in receiver.messages():
                    now = time.perf_counter()
                    if len(message.payload) < _HEADER.size:
                        continue
                    seq, due = _HEADER.unpack_from(message.payload)
                    seen = stats.received.setdefault(seq, set())
                    if index in seen:
                        stats.duplicates += 1
                    else:
                        seen.add(index)
                        stats.latency.record(now - due)
                return
            except Exception as exc:  # noqa: BLE001 - counted; the receiver keeps reading
                task = asyncio.current_task()
                if self._closing or (task is not None and task.cancelling()):
                    raise asyncio.CancelledError from exc
                stats.receiver_errors += 1
                _log.warning("receiver %s: %r", self.identity(index), exc)
                await asyncio.sleep(0.1)

    def next_op(self) -> tuple[str, Operation]:
        op = self.ops[0] if len(self.ops) == 1 else self._random.choices(self.ops, self.weights)[0]
        if op == "register":
            index = self._next_identity
            self._next_identity = (index + 1) % self.identities

            async def register(_due: float) -> None:
                await self._register(index)
                self.registered += 1

            return op, register
        where = self._filters[self._next_group]
        self._next_group = (self._next_group + 1) % self.groups
        if op == "enumerate":

            async def enumerate_(_due: float) -> None:
                found = 0
                async for page in self.coordinator.enumerate(self.namespace, where, self.page_size):
                    found += len(page)
                self.enumerated += found
                self.enumerate_calls += 1

            return op, enumerate_
        seq, self._next_seq = self._next_seq, self._next_seq + 1

        async def multicast(due: float) -> None:
            payload = _HEADER.pack(seq, due) + self._padding
            result = await self.coordinator.multicast(self.namespace, where, payload, {})
            stats = self.delivery
            stats.targets[seq] = result.targeted
            stats.slot_delivered += result.delivered
            stats.no_receiver += result.no_receiver
            stats.slot_failed += result.failed
            stats.fanout.record(result.fanout_ms / 1000.0)

        return op, multicast

    def all_received(self) -> bool:
        return self.delivery.delivered() >= self.delivery.slot_delivered

    async def settle(self, timeout: float, stopped: Callable[[], bool] = lambda: False) -> None:
        """Give receivers up to ``timeout`` seconds to read what the slot handed them."""
        start = time.perf_counter()
        while not self.all_received() and time.perf_counter() - start < timeout and not stopped():
            await asyncio.sleep(0.05)
        self.settle_seconds = time.perf_counter() - start

    async def teardown(self) -> None:
        """Close the receivers and unregister the run's identities (bounded, best effort)."""
        self._closing = True
        for task in self._tasks:
            task.cancel()
        closes = [asyncio.wait_for(r.close(), TEARDOWN_WAIT_S) for r in self._receivers]
        for outcome in await asyncio.gather(*closes, return_exceptions=True):
            if isinstance(outcome, BaseException):
                _log.warning("closing a receiver failed: %r", outcome)
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=TEARDOWN_WAIT_S)
            if pending:
                _log.warning("%d receiver(s) did not stop in time", len(pending))
        for first in range(0, self._touched, SETUP_BATCH):
            last = min(first + SETUP_BATCH, self._touched)
            await asyncio.gather(
                *(
                    self.coordinator.unregister(self.namespace, self.identity(i))
                    for i in range(first, last)
                ),
                return_exceptions=True,
            )

    def custom(self) -> dict[str, Any]:
        """Registry figures, and for runs that multicast the delivery counted at receipt."""
        out: dict[str, Any] = {
            "namespace": self.namespace,
            "identities": self.identities,
            "groups": self.groups,
            "ttl_seconds": self.ttl_seconds,
            "registered": self.registered,
            "enumerate_calls": self.enumerate_calls,
            "enumerated": self.enumerated,
        }
        if self.needs_messaging:
            d = self.delivery
            targets = sum(d.targets.values())
            delivered = d.delivered()
            out["delivery"] = {
                "counted_at": "receipt",
                "multicasts": len(d.targets),
                "payload_size": self.payload_size,
                "receivers": len(self._receivers),
                "targets": targets,
                "delivered": delivered,
                "no_receiver": d.no_receiver,
                # targeted, had a receiver, never read: slot errors plus messages lost after it
                "failed": max(targets - delivered - d.no_receiver, 0),
                "slot_delivered": d.slot_delivered,
                "slot_failed": d.slot_failed,
                "delivery_rate": round(delivered / targets, 6) if targets else 0.0,
                "duplicates": d.duplicates,
                "receiver_errors": d.receiver_errors,
                "settle_seconds": round(self.settle_seconds, 3),
                "latency_ms": d.latency.summary_ms(),
                "fanout_ms": d.fanout.summary_ms(),
            }
        return out

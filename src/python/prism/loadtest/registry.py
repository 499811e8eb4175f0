"""The multicast registry scenarios: register, enumerate, multicast, or a mix, on the Coordinator.

They drive ``prism.sdk.patterns.Coordinator`` (the one a registry plugin serves, from its
``Plugin.registry()``) directly: pattern logic plus backends, no gRPC (MEMO-013's
pattern tier). Identities ``id-000000`` ... live in a namespace of the run's own, each in one of
``groups`` groups (metadata ``group``); enumerate and multicast target one group per call.

Runs that multicast open one live receiver per identity before the first operation
(``receivers``: in a child process for a network messaging slot) and count delivery at
receipt; the payload carries the multicast's sequence number and *intended* start, so
end-to-end delivery latency is measured open-loop like the operations. Registers in a mix
re-register identities of the same pool (same group), so every targeted identity has a live
receiver. Setup registers at most ``setup_concurrency`` at once: the plugin's connection pool
size, so no setup register waits for a connection (a wait the pool bounds, 1 s by default,
which a loaded machine exceeded with 128 at once).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from prism.interfaces import multicast_registry_pb2 as pb
from prism.loadtest.backends import pool_size
from prism.loadtest.receivers import HEADER, LiveReceivers, Receivers, monotonic
from prism.loadtest.runner import Operation
from prism.loadtest.stats import LatencyHistogram
from prism.sdk.patterns import Coordinator, Filter, parse_filter

__all__ = ["OPERATIONS", "DeliveryStats", "RegistryScenario"]

_log = logging.getLogger(__name__)

OPERATIONS = ("register", "enumerate", "multicast")


@dataclass
class DeliveryStats:
    """What multicasts targeted and what the slot reported (receipts: ``Receivers``)."""

    targets: dict[int, int] = field(default_factory=dict)  # seq -> targeted (successful calls)
    slot_delivered: int = 0
    no_receiver: int = 0
    slot_failed: int = 0
    fanout: LatencyHistogram = field(default_factory=LatencyHistogram)


async def _bounded(calls: Iterable[Callable[[], Awaitable[Any]]], limit: int) -> None:
    """Run ``calls`` with at most ``limit`` in flight; the first error cancels the rest."""
    slots = asyncio.Semaphore(limit)

    async def one(call: Callable[[], Awaitable[Any]]) -> None:
        async with slots:
            await call()

    tasks = [asyncio.ensure_future(one(call)) for call in calls]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class RegistryScenario:
    """Operations picked at random with weights ``mix`` (register/enumerate/multicast).

    ``receivers`` (for runs that multicast) default to :class:`LiveReceivers` in this process.
    """

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
        receivers: Receivers | None = None,
        setup_concurrency: int | None = None,
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
        self.payload_size = max(payload_size, HEADER.size)
        self._padding = b"\0" * (self.payload_size - HEADER.size)
        self.page_size = page_size
        self.namespace = namespace or f"loadtest-{uuid.uuid4().hex[:8]}"
        self.setup_concurrency = setup_concurrency or pool_size({})
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
        self.receivers: Receivers = receivers or LiveReceivers(coordinator)
        self.settle_seconds = 0.0

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
            say(
                f"registering {self.identities} identities in {self.namespace}"
                f" ({self.setup_concurrency} at a time)"
            )
            calls = (partial(self._register, i) for i in range(self.identities))
            await _bounded(calls, self.setup_concurrency)
        if self.needs_messaging:
            say(f"opening {self.identities} live receivers ({self.receivers.where})")
            names = [self.identity(i) for i in range(self.identities)]
            await self.receivers.start(self.namespace, names)
        if self.preload or self.needs_messaging:
            say(f"setup done in {time.perf_counter() - started:.1f} s")

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
            # The intended start on the clock the receivers read (perhaps in another process).
            intended = monotonic() - (time.perf_counter() - due)
            payload = HEADER.pack(seq, intended) + self._padding
            result = await self.coordinator.multicast(self.namespace, where, payload, {})
            stats = self.delivery
            stats.targets[seq] = result.targeted
            stats.slot_delivered += result.delivered
            stats.no_receiver += result.no_receiver
            stats.slot_failed += result.failed
            stats.fanout.record(result.fanout_ms / 1000.0)

        return op, multicast

    def delivered(self) -> int:
        """Receipts of completed multicasts (a receipt can beat its call's return)."""
        return self.receivers.receipts.delivered(self.delivery.targets)

    def all_received(self) -> bool:
        return self.delivered() >= self.delivery.slot_delivered

    async def settle(self, timeout: float, stopped: Callable[[], bool] = lambda: False) -> None:
        """Give receivers up to ``timeout`` seconds to read what the slot handed them, then
        close them: their counts and latency are final for :meth:`custom`."""
        start = time.perf_counter()
        while (
            self.needs_messaging
            and not self.all_received()
            and self.receivers.error is None
            and time.perf_counter() - start < timeout
            and not stopped()
        ):
            await asyncio.sleep(0.05)
        self.settle_seconds = time.perf_counter() - start
        await self.receivers.finish()

    async def teardown(self) -> None:
        """Close the receivers and unregister the run's identities (bounded, best effort)."""
        await self.receivers.finish()

        async def forget(index: int) -> None:
            try:
                await self.coordinator.unregister(self.namespace, self.identity(index))
            except Exception as exc:  # noqa: BLE001 - best effort: the TTL removes it anyway
                _log.debug("unregister %s: %r", self.identity(index), exc)

        await _bounded((partial(forget, i) for i in range(self._touched)), self.setup_concurrency)

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
            d, receipts = self.delivery, self.receivers.receipts
            targets = sum(d.targets.values())
            delivered = self.delivered()
            out["delivery"] = {
                "counted_at": "receipt",
                "multicasts": len(d.targets),
                "payload_size": self.payload_size,
                "receivers": self.receivers.count,
                "receivers_in": self.receivers.where,
                "receivers_error": self.receivers.error,
                "targets": targets,
                "delivered": delivered,
                "no_receiver": d.no_receiver,
                # targeted, had a receiver, never read: slot errors plus messages lost after it
                "failed": max(targets - delivered - d.no_receiver, 0),
                "slot_delivered": d.slot_delivered,
                "slot_failed": d.slot_failed,
                "delivery_rate": round(delivered / targets, 6) if targets else 0.0,
                "duplicates": receipts.duplicates,
                "receiver_errors": receipts.errors,
                "settle_seconds": round(self.settle_seconds, 3),
                "latency_ms": receipts.latency.summary_ms(),
                "fanout_ms": d.fanout.summary_ms(),
            }
        return out

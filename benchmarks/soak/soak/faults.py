"""The kills: a plugin process (the gateway's supervisor restarts it) and a Kafka broker
(SIGKILL, then started again on its ports and data), in turn, on a fixed schedule."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from services.servers import KafkaCluster, ServerError
from soak.procs import plugin_pids

__all__ = ["KINDS", "Event", "Faults"]

KINDS = ("plugin redis", "kafka broker", "plugin kafka")
RESTART_POLL = 0.05  # seconds between looks for a restarted plugin
RESTART_WAIT = 60.0  # seconds a plugin may take to come back


@dataclass
class Event:
    kind: str
    target: str  # "pid 1234", "broker 2"
    at: float  # seconds since the soak started
    back_at: float | None = None  # when the process was running again
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class Faults:
    """``fire(kind)`` kills one thing now and brings it back in the background."""

    def __init__(
        self,
        gateway_pid: int,
        kafka: KafkaCluster,
        clock: Callable[[], float],
        *,
        broker_down: float,
    ) -> None:
        self._gateway_pid = gateway_pid
        self._kafka = kafka
        self._clock = clock
        self._broker_down = broker_down
        self._next_broker = 1
        self._restarts: list[asyncio.Task[None]] = []
        self._broker_back: asyncio.Task[None] | None = None
        self.events: list[Event] = []  # fired so far

    async def fire(self, kind: str) -> Event:
        if kind.startswith("plugin "):
            return self._kill_plugin(kind.removeprefix("plugin "))
        if kind == "kafka broker":
            return await self._kill_broker()
        raise ValueError(f"unknown fault {kind!r}; known: {', '.join(KINDS)}")

    def _kill_plugin(self, name: str) -> Event:
        pid = plugin_pids(self._gateway_pid).get(name)
        if pid is None:
            return Event(f"plugin {name}", "-", self._clock(), note="no such plugin process")
        os.kill(pid, signal.SIGKILL)
        event = Event(f"plugin {name}", f"pid {pid}", self._clock())
        self._restarts.append(asyncio.ensure_future(self._plugin_back(event, name, pid)))
        return event

    async def _plugin_back(self, event: Event, name: str, old: int) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RESTART_WAIT
        while loop.time() < deadline:
            pid = plugin_pids(self._gateway_pid).get(name)
            if pid is not None and pid != old:
                event.back_at = self._clock()
                event.note = f"restarted by the gateway as pid {pid}"
                return
            await asyncio.sleep(RESTART_POLL)
        event.note = f"not restarted within {RESTART_WAIT:.0f} s"

    async def _kill_broker(self) -> Event:
        n = self._next_broker
        if self._broker_back is not None and not self._broker_back.done():
            return Event("kafka broker", "-", self._clock(), note="skipped: a broker is still down")
        self._next_broker = n % 3 + 1
        await asyncio.to_thread(self._kafka.kill, n)
        event = Event("kafka broker", f"broker {n}", self._clock())
        self._broker_back = asyncio.ensure_future(self._broker_start(event, n))
        self._restarts.append(self._broker_back)
        return event

    async def _broker_start(self, event: Event, n: int) -> None:
        await asyncio.sleep(self._broker_down)
        try:
            await asyncio.to_thread(self._kafka.start, n)
        except ServerError as exc:
            event.note = f"could not start it again: {exc}"
            return
        event.back_at = self._clock()
        event.note = f"started again after {self._broker_down:.0f} s down"

    async def run(
        self, kinds: Sequence[str], first: float, every: float, last: float
    ) -> list[Event]:
        """Fire ``kinds`` in turn at ``first``, ``first + every``, ... up to ``last`` (seconds
        since the soak started); returns the events once everything killed is back."""
        at = first
        try:
            while kinds and at <= last:
                await asyncio.sleep(max(0.0, at - self._clock()))
                self.events.append(await self.fire(kinds[len(self.events) % len(kinds)]))
                at += every
        finally:
            await self.settle()
        return self.events

    async def settle(self) -> None:
        """Wait for every restart in progress (a broker start can take tens of seconds)."""
        await asyncio.gather(*self._restarts)

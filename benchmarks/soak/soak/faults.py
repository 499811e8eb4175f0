"""The kills, in turn on a fixed schedule: a plugin process (the gateway's supervisor restarts
it), a Kafka broker and the Redis Cluster master that holds the soak's namespace (SIGKILL;
started again on its ports and data after a while: the node rejoins as a replica)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import redis.asyncio
from redis.exceptions import RedisError

from prism.plugins.redis.connection import namespace_prefix
from services.servers import KafkaCluster, RedisCluster, ServerError
from soak.procs import plugin_pids

__all__ = ["KINDS", "Event", "Faults"]

KINDS = ("plugin redis", "kafka broker", "plugin kafka", "redis master")
RESTART_POLL = 0.05  # seconds between looks for a restarted plugin
RESTART_WAIT = 60.0  # seconds a plugin may take to come back


@dataclass
class Event:
    kind: str
    target: str  # "pid 1234", "broker 2", "node 3"
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
        redis: RedisCluster,
        redis_namespace: str,
        clock: Callable[[], float],
        *,
        down: float,
    ) -> None:
        self._gateway_pid = gateway_pid
        self._kafka = kafka
        self._redis = redis
        self._redis_namespace = redis_namespace
        self._clock = clock
        self._down = down
        self._next_broker = 1
        self._restarts: list[asyncio.Task[None]] = []
        self._down_now: dict[str, asyncio.Task[None]] = {}  # kind -> its start-again task
        self.events: list[Event] = []  # fired so far

    async def fire(self, kind: str) -> Event:
        if kind.startswith("plugin "):
            return self._kill_plugin(kind.removeprefix("plugin "))
        if kind == "kafka broker":
            return await self._kill_broker()
        if kind == "redis master":
            return await self._kill_redis_master()
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

    def _still_down(self, kind: str) -> Event | None:
        """A skip event when the last server of this kind is not back yet."""
        task = self._down_now.get(kind)
        if task is None or task.done():
            return None
        return Event(kind, "-", self._clock(), note="skipped: the last one killed is still down")

    def _start_later(self, event: Event, start: Callable[[int], None], n: int) -> None:
        async def start_again() -> None:
            await asyncio.sleep(self._down)
            try:
                await asyncio.to_thread(start, n)
            except ServerError as exc:
                event.note = f"could not start it again: {exc}"
                return
            event.back_at = self._clock()
            event.note = f"started again after {self._down:.0f} s down"

        task = asyncio.ensure_future(start_again())
        self._down_now[event.kind] = task
        self._restarts.append(task)

    async def _kill_broker(self) -> Event:
        skipped = self._still_down("kafka broker")
        if skipped is not None:
            return skipped
        n = self._next_broker
        self._next_broker = n % 3 + 1
        event = Event("kafka broker", f"broker {n}", self._clock())  # calls fail from here
        await asyncio.to_thread(self._kafka.kill, n)
        self._start_later(event, self._kafka.start, n)
        return event

    async def _kill_redis_master(self) -> Event:
        skipped = self._still_down("redis master")
        if skipped is not None:
            return skipped
        node = await self._redis_master()
        event = Event("redis master", f"node {node}", self._clock())  # calls fail from here
        await asyncio.to_thread(self._redis.kill, node)
        self._start_later(event, self._redis.start, node)
        return event

    async def _redis_master(self) -> int:
        """The node number (1..) of the master that holds the namespace's slot now."""
        for addr in self._redis.addrs:
            host, _, port = addr.rpartition(":")
            client = redis.asyncio.RedisCluster(host=host, port=int(port))
            try:
                await client.initialize()
                node = client.get_node_from_key(namespace_prefix(self._redis_namespace) + "k")
                if node is not None:
                    return self._redis.addrs.index(f"{node.host}:{node.port}") + 1
            except RedisError:
                continue  # that node is down: ask another
            finally:
                await client.aclose()
        raise ServerError("no node of the Redis Cluster answers")

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

"""The soak itself: load through a running gateway, kills on a schedule, then the checks."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import uuid
from dataclasses import dataclass
from typing import Any, TextIO

import grpc

from services.servers import KafkaCluster, RedisCluster
from soak import procs, report
from soak.faults import KINDS, Event, Faults
from soak.ledger import KvLedger, PubLedger
from soak.load import Consumer, KvLoad, PubLoad, open_loop
from soak.outcomes import OK, Outcomes

__all__ = ["NAMESPACES", "Plan", "soak"]

# namespace -> backend; the gateway config (soak.cli) serves these.
NAMESPACES = {"kv": "redis", "mem": "memstore", "events": "kafka"}
PUBSUB_NS = "events"
REDIS_NS = "kv"
SUBSCRIBE_WAIT = 60.0  # seconds for the first subscription to become active
VERIFY_TRIES = 20  # reads of one key at the end before it counts as unreadable
VERIFY_CONCURRENCY = 16


@dataclass(frozen=True)
class Plan:
    seconds: float
    kv_rate: float
    mem_rate: float
    publish_rate: float
    kill_every: float  # 0: no kills
    down: float  # a killed broker or Redis node is started again after this long
    keys: int
    value_size: int
    read_ratio: float
    timeout: float
    in_flight: int
    settle: float
    progress_every: float
    kinds: tuple[str, ...] = KINDS

    @property
    def warmup(self) -> float:
        """When the start sample of RSS and fds is taken: after start-up allocations."""
        first_kill = self.kill_every / 2 if self.kill_every > 0 else self.seconds
        return min(10.0, self.seconds / 10, first_kill / 2)


class _Clock:
    def __init__(self) -> None:
        self._t0 = asyncio.get_running_loop().time()

    def __call__(self) -> float:
        return asyncio.get_running_loop().time() - self._t0


async def _verify(load: KvLoad, timeout: float) -> dict[str, int]:
    """Read back every key with an acknowledged write (retrying failed reads)."""
    lost = unreadable = 0
    gate = asyncio.Semaphore(VERIFY_CONCURRENCY)

    async def check(index: int) -> None:
        nonlocal lost, unreadable
        async with gate:
            for _ in range(VERIFY_TRIES):
                code, value = await load.read(index)
                if code in (OK, "NOT_FOUND"):
                    lost += not load.ledger.holds(index, value)
                    return
                await asyncio.sleep(timeout / 4)
            unreadable += 1

    written = load.ledger.written()
    await asyncio.gather(*(check(i) for i in written))
    return {"keys": len(written), "lost": lost, "unreadable": unreadable}


async def _until_consumed(ledger: PubLedger, seconds: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while ledger.missing() and loop.time() < deadline:
        await asyncio.sleep(0.2)


def _progress(
    out: TextIO,
    plan: Plan,
    now: float,
    outcomes: Outcomes,
    pub: PubLedger,
    sample: dict[str, procs.ProcSample],
    events: int,
) -> None:
    totals = outcomes.totals()
    parts = []
    for stream in ("kv", "mem", "publish"):
        codes = totals.get(stream, {})
        parts.append(f"{stream} ok {codes.get(OK, 0)} err {sum(codes.values()) - codes.get(OK, 0)}")
    parts.append(f"consumed {len(pub.acked & pub.received)}/{len(pub.acked)} acked")
    gw = sample.get("gateway")
    plugins = [s for name, s in sample.items() if name != "gateway"]
    res = (
        f"gateway RSS {gw.rss_kb / 1024:.0f} MB fds {gw.fds}, plugins RSS "
        f"{sum(s.rss_kb for s in plugins) / 1024:.0f} MB fds {sum(s.fds for s in plugins)}"
        if gw
        else "gateway gone"
    )
    phase = f"{now:4.0f}s/{plan.seconds:.0f}s" if now <= plan.seconds else f"{now:4.0f}s, load done"
    print(
        f"soak {phase} | {' | '.join(parts)} | {res} | kills {events}",
        file=out,
        flush=True,
    )


async def soak(
    plan: Plan,
    gateway_addr: str,
    gateway_pid: int,
    kafka: KafkaCluster,
    redis: RedisCluster,
    progress: TextIO = sys.stderr,
) -> dict[str, Any]:
    """Run the plan against the gateway at ``gateway_addr``; the report as a dict."""
    clock = _Clock()
    outcomes = Outcomes()
    topic = f"soak-{uuid.uuid4().hex[:8]}"
    async with grpc.aio.insecure_channel(gateway_addr) as channel:
        loads = {
            ns: KvLoad(
                channel,
                ns,
                KvLedger(f"soak/{topic}/", plan.keys),
                outcomes,
                clock,
                value_size=plan.value_size,
                read_ratio=plan.read_ratio,
                timeout=plan.timeout,
            )
            for ns in ("kv", "mem")
        }
        pub = PubLedger()
        publisher = PubLoad(
            channel,
            PUBSUB_NS,
            topic,
            pub,
            outcomes,
            clock,
            value_size=plan.value_size,
            timeout=plan.timeout,
        )
        consumer = Consumer(
            channel,
            PUBSUB_NS,
            topic,
            f"{topic}-consumer",
            pub,
            outcomes,
            clock,
            timeout=plan.timeout,
        )
        consuming = asyncio.ensure_future(consumer.run())
        await asyncio.wait_for(consumer.active.wait(), SUBSCRIBE_WAIT)

        t0 = clock()
        faults = Faults(gateway_pid, kafka, redis, REDIS_NS, clock, down=plan.down)
        events: list[Event] = []
        schedule = None
        if plan.kill_every > 0:
            schedule = asyncio.ensure_future(
                faults.run(
                    plan.kinds,
                    t0 + plan.kill_every / 2,
                    plan.kill_every,
                    t0 + plan.seconds - plan.kill_every / 2,
                )
            )
        series: list[dict[str, Any]] = []
        start_sample: dict[str, procs.ProcSample] = {}

        async def watch() -> None:
            nonlocal start_sample
            await asyncio.sleep(plan.warmup)
            start_sample = procs.snapshot(gateway_pid)
            while True:
                await asyncio.sleep(plan.progress_every)
                sample = procs.snapshot(gateway_pid)
                series.append({"t": clock() - t0, **{k: v.as_json() for k, v in sample.items()}})
                _progress(progress, plan, clock() - t0, outcomes, pub, sample, len(faults.events))

        watcher = asyncio.ensure_future(watch())
        await asyncio.gather(
            open_loop(
                plan.kv_rate, plan.seconds, loads["kv"].step, plan.in_flight, loads["kv"].skip
            ),
            open_loop(
                plan.mem_rate, plan.seconds, loads["mem"].step, plan.in_flight, loads["mem"].skip
            ),
            open_loop(
                plan.publish_rate, plan.seconds, publisher.step, plan.in_flight, publisher.skip
            ),
        )
        load_end = clock()
        if schedule is not None:
            events = await schedule
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        end_sample = procs.snapshot(gateway_pid)
        await _until_consumed(pub, plan.settle)
        consuming.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await consuming
        checks = {ns: await _verify(load, plan.timeout) for ns, load in loads.items()}

    bounds = [ev.at for ev in events[1:]] + [load_end]
    event_rows = []
    for ev, end in zip(events, bounds, strict=True):
        window = outcomes.window(ev.at, end)
        event_rows.append(
            {
                **ev.as_json(),
                "at": ev.at - t0,
                "back_at": None if ev.back_at is None else ev.back_at - t0,
                "errors": window.errors,
                "recovered_after": window.recovered_after,
            }
        )
    missing = pub.missing()
    kv_rows = {
        ns: {
            "backend": NAMESPACES[ns],
            "acked_sets": outcomes.totals().get(ns, {}).get(OK, 0),
            **checks[ns],
            "stale_reads": load.stale_reads,
        }
        for ns, load in loads.items()
    }
    lost = sum(c["lost"] for c in checks.values()) + len(missing)
    return {
        "completed": True,
        "seconds": load_end - t0,
        "rates": {"kv": plan.kv_rate, "mem": plan.mem_rate, "publish": plan.publish_rate},
        "plan": {k: v for k, v in plan.__dict__.items()},
        "lost": lost,
        "unreadable": sum(c["unreadable"] for c in checks.values()),
        "stale_reads": sum(load.stale_reads for load in loads.values()),
        "kv": kv_rows,
        "pubsub": {
            "namespace": PUBSUB_NS,
            "backend": NAMESPACES[PUBSUB_NS],
            "topic": topic,
            "acked": len(pub.acked),
            "lost": len(missing),
            "lost_sample": sorted(missing)[:20],
            "duplicates": pub.duplicates,
            "failed": len(pub.failed),
            "failed_consumed": len(pub.failed & pub.received),
            "subscription_breaks": consumer.breaks,
        },
        **outcomes.as_json(),
        "events": event_rows,
        "resources_start_at": plan.warmup,
        "resources": report.resources(start_sample, end_sample),
        "resource_series": series,
    }

"""prism-loadtest's live receivers in a child process, through a real Redis and a real NATS:
receipts are counted where they are read and reach the generator; a child that dies mid-run
is reported as such, and the run does not hang."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Callable

import pytest

from prism.interfaces import multicast_registry_pb2 as pb
from prism.loadtest.profiles import constant
from prism.loadtest.receiver_process import ReceiverProcess
from prism.loadtest.receivers import HEADER, monotonic
from prism.loadtest.registry import RegistryScenario
from prism.loadtest.report import build_report, format_summary
from prism.loadtest.runner import Runner
from prism.plugins.multicast import Slots, build_coordinator
from prism.sdk.patterns import parse_filter
from services.nats_servers import NatsServer
from services.servers import RedisServer

WAIT_S = 30.0


def plugin_settings(messaging: str, redis: RedisServer, nats: NatsServer) -> dict[str, str]:
    settings = {"registry": "redis", "messaging": messaging, "redis_addr": redis.addr}
    if messaging == "nats":
        settings["nats_servers"] = nats.url
    return settings


@pytest.fixture(params=["redis", "nats"])
def messaging(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def slots(
    messaging: str, redis_srv: RedisServer, nats_srv: NatsServer
) -> AsyncIterator[Slots]:
    built = await build_coordinator(**plugin_settings(messaging, redis_srv, nats_srv))
    try:
        yield built
    finally:
        await built.close()


async def eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        assert time.monotonic() < deadline, f"{what} not within {WAIT_S} s"
        await asyncio.sleep(0.05)


async def test_receipts_are_counted_in_the_child_at_receipt(
    slots: Slots, messaging: str, redis_srv: RedisServer, nats_srv: NatsServer
) -> None:
    c, ns = slots.coordinator, f"rp-{time.time_ns()}"
    names = [f"dev-{i}" for i in range(20)]
    for i, name in enumerate(names):
        await c.register(ns, name, {"group": f"g{i % 2}"}, 60)
    receivers = ReceiverProcess("multicast", plugin_settings(messaging, redis_srv, nats_srv))
    try:
        await receivers.start(ns, names)
        assert receivers.count == 20 and receivers.pid not in (None, os.getpid())
        g0 = parse_filter(
            pb.Filter(
                conditions=[pb.FilterCondition(key="group", op=pb.FILTER_OP_EQ, values=["g0"])]
            )
        )
        for seq in range(3):
            result = await c.multicast(ns, g0, HEADER.pack(seq, monotonic()), {})
            assert (result.targeted, result.delivered) == (10, 10)
        # Counted by the child as its receivers read them, reported while the run goes on.
        await eventually(lambda: receivers.receipts.delivered([0, 1, 2]) == 30, "30 receipts")
    finally:
        await receivers.finish()
    assert receivers.error is None
    receipts = receivers.receipts
    assert dict(receipts.received) == {0: 10, 1: 10, 2: 10}
    assert (receipts.duplicates, receipts.errors) == (0, 0)
    assert receipts.latency.count == 30  # the child's histogram, handed over at the end
    assert receipts.latency.percentile_ms(100) > 0


async def test_a_receiver_process_killed_mid_run_is_reported(
    slots: Slots, messaging: str, redis_srv: RedisServer, nats_srv: NatsServer
) -> None:
    receivers = ReceiverProcess("multicast", plugin_settings(messaging, redis_srv, nats_srv))
    scenario = RegistryScenario(
        slots.coordinator, mix={"multicast": 1}, identities=20, groups=2, receivers=receivers
    )
    await scenario.setup()
    try:
        assert receivers.pid is not None
        os.kill(receivers.pid, signal.SIGKILL)
        result = await Runner(constant(10, 1.0), scenario).run()
        await asyncio.wait_for(scenario.settle(5.0), WAIT_S)
    finally:
        await asyncio.wait_for(scenario.teardown(), WAIT_S)
    report = build_report(
        result,
        scenario="multicast",
        plugin="multicast",
        command=[],
        concurrency=64,
        custom=scenario.custom(),
    )
    delivery = report["custom"]["delivery"]
    assert delivery["receivers_in"] == "child process"
    assert (
        delivery["receivers_error"]
        == f"receiver process exited with code {-signal.SIGKILL} mid-run"
    )
    assert delivery["delivered"] == 0 < delivery["targets"]
    assert f"Receivers:        ERROR: {delivery['receivers_error']}" in format_summary(report)

"""Several gateways: two `prism up` processes with one config serve the same data, and a
round-robin client given both addresses keeps working when one is SIGKILLed."""

from __future__ import annotations

import contextlib
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import psutil
import pytest

from prism.interfaces import keyvalue_basic_pb2 as kv
from prism.interfaces import keyvalue_basic_pb2_grpc as kv_grpc
from proxy.gateway import Gateway
from services.servers import RedisServer

CONFIG = """\
namespaces:
  cache:
    plugin: redis
    settings:
      addr: "{redis}"
"""
NS = "cache"
LOAD_SECONDS = 3.0  # of calls after the kill
RECOVERY_BOUND = 1.0  # failed calls must stop within this long after the kill


@pytest.fixture
def gateways(redis_srv: RedisServer, tmp_path: Path) -> Iterator[list[Gateway]]:
    text = CONFIG.format(redis=redis_srv.addr)
    started: list[Gateway] = []
    try:
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            started.append(Gateway(text, tmp_path / name).start(timeout=120.0))
        yield started
    finally:
        for gw in started:
            gw.stop()


async def test_data_written_through_one_gateway_is_read_through_the_other(
    gateways: list[Gateway],
) -> None:
    a, b = gateways
    async with grpc.aio.insecure_channel(a.addr) as ca, grpc.aio.insecure_channel(b.addr) as cb:
        sa, sb = kv_grpc.KeyValueBasicInterfaceStub(ca), kv_grpc.KeyValueBasicInterfaceStub(cb)
        key = f"gw/{uuid.uuid4().hex}"
        await sa.Set(kv.SetRequest(namespace=NS, key=key, value=b"from a"), timeout=5)
        assert (await sb.Get(kv.GetRequest(namespace=NS, key=key), timeout=5)).value == b"from a"
        await sb.Set(kv.SetRequest(namespace=NS, key=key, value=b"from b"), timeout=5)
        assert (await sa.Get(kv.GetRequest(namespace=NS, key=key), timeout=5)).value == b"from b"


async def test_round_robin_client_survives_a_killed_gateway(gateways: list[Gateway]) -> None:
    a, b = gateways
    target = "ipv4:" + ",".join(gw.addr for gw in gateways)
    options = [("grpc.lb_policy_name", "round_robin")]
    async with grpc.aio.insecure_channel(target, options=options) as channel:
        stub = kv_grpc.KeyValueBasicInterfaceStub(channel)
        ok, failures = 0, []  # failure times (monotonic)
        warm = time.monotonic() + 1.0
        while time.monotonic() < warm:  # both subchannels connected and serving
            await stub.Set(kv.SetRequest(namespace=NS, key="gw/rr", value=b"x"), timeout=5)
        assert a.proc is not None
        orphans = psutil.Process(a.proc.pid).children()  # its plugin processes
        a.proc.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        try:
            while time.monotonic() < killed + LOAD_SECONDS:
                try:
                    await stub.Set(
                        kv.SetRequest(namespace=NS, key=f"gw/rr/{ok}", value=b"x"), timeout=2
                    )
                    ok += 1
                except grpc.aio.AioRpcError as exc:
                    assert exc.code() is grpc.StatusCode.UNAVAILABLE, exc
                    failures.append(time.monotonic())
        finally:
            a.proc.wait()
            a.proc = None
            for child in orphans:  # plugins usually exit with their gateway already
                with contextlib.suppress(psutil.NoSuchProcess):
                    child.kill()
        last = max(failures, default=killed) - killed
        print(f"after the kill: {ok} ok, {len(failures)} failed, last failure at +{last:.3f}s")
        assert ok > 0, "the other gateway serves"
        assert last < RECOVERY_BOUND, f"failed calls went on for {last:.3f}s after the kill"

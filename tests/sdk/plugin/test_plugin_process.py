"""run_plugin as a real process (signals, exit codes) and the documented minimal example."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import signal
import sys
import textwrap
import threading

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from prism.interfaces import keyvalue_basic_pb2 as kv_pb
from prism.interfaces import keyvalue_basic_pb2_grpc as kv_grpc
from prism.sdk.config import load_settings
from prism.sdk.examples.minimal_kv import MinimalKV
from prism.sdk.plugin import run_plugin
from sdk.plugin.plugin_fakes import (
    FakeKV,
    first_line,
    plugin_process,
    spawn_python,
    start_serving,
    stderr_text,
)

EXAMPLE = "prism.sdk.examples.minimal_kv"


async def test_run_plugin_process_serves_and_drains_on_sigterm() -> None:
    async with plugin_process("-m", EXAMPLE, "--port", "0") as proc:
        line = await first_line(proc)
        assert line.startswith("prism-plugin minimal-kv listening on 127.0.0.1:"), line
        address = line.strip().rsplit(" ", 1)[1]
        async with grpc.aio.insecure_channel(address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            resp = await health.Check(health_pb2.HealthCheckRequest(), timeout=10)
            assert resp.status == health_pb2.HealthCheckResponse.SERVING
            kv = kv_grpc.KeyValueBasicInterfaceStub(channel)
            await kv.Set(kv_pb.SetRequest(namespace="default", key="a", value=b"1"), timeout=10)
            assert (
                await kv.Get(kv_pb.GetRequest(namespace="default", key="a"), timeout=10)
            ).value == b"1"
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
        stderr = await stderr_text(proc)
        assert "received SIGTERM" in stderr and "drained" in stderr


REQUIRED = textwrap.dedent(
    """
    from prism.sdk.config import PluginSettings, SettingsConfigDict
    from prism.sdk.examples.minimal_kv import MinimalKV
    from prism.sdk.plugin import run_plugin

    class Settings(PluginSettings):
        model_config = SettingsConfigDict(env_prefix="PRISM_REQTEST_")
        addr: str

    class P(MinimalKV):
        name, settings_class = "reqtest", Settings

    raise SystemExit(run_plugin(P))
    """
)


async def test_missing_required_env_var_exits_2() -> None:
    proc = await spawn_python("-c", REQUIRED)
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert "PRISM_REQTEST_ADDR" in stderr.decode()
    assert b"listening" not in stdout


def test_run_plugin_config_error_in_process(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PRISM_FAKEKV_LIMIT", "lots")
    assert run_plugin(FakeKV, []) == 2
    err = capsys.readouterr().err
    assert "prism-plugin fakekv: invalid configuration" in err and "PRISM_FAKEKV_LIMIT" in err


class _SignalOnListen(io.StringIO):
    """stdout stand-in: SIGTERMs this process once the listening line is printed."""

    def write(self, s: str) -> int:
        n = super().write(s)
        if "listening" in s:
            threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGTERM)).start()
        return n


def test_run_plugin_in_process_sigterm(monkeypatch: pytest.MonkeyPatch) -> None:
    out = _SignalOnListen()
    monkeypatch.setattr(sys, "stdout", out)
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        assert run_plugin(FakeKV, ["--host", "127.0.0.1", "--port", "0"]) == 0
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    assert "prism-plugin fakekv listening on 127.0.0.1:" in out.getvalue()


async def test_minimal_example_in_process() -> None:
    plugin = MinimalKV(load_settings(MinimalKV.settings_class, environ={}))
    task, shutdown, out = await start_serving(plugin, managed=False)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{out.port}") as channel:
        kv = kv_grpc.KeyValueBasicInterfaceStub(channel)
        assert (
            await kv.Set(kv_pb.SetRequest(namespace="default", key="k", value=b"v"), timeout=5)
        ).created
        assert not (
            await kv.Set(kv_pb.SetRequest(namespace="default", key="k", value=b"w"), timeout=5)
        ).created
        assert (
            await kv.Get(kv_pb.GetRequest(namespace="default", key="k"), timeout=5)
        ).value == b"w"
        assert (
            await kv.Exists(kv_pb.ExistsRequest(namespace="default", key="k"), timeout=5)
        ).exists
        assert (
            await kv.Delete(kv_pb.DeleteRequest(namespace="default", key="k"), timeout=5)
        ).deleted
        assert not (
            await kv.Delete(kv_pb.DeleteRequest(namespace="default", key="k"), timeout=5)
        ).deleted
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await kv.Get(kv_pb.GetRequest(namespace="default", key="k"), timeout=5)
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.aio.AioRpcError) as info:  # the SDK validates before the store
            await kv.Set(kv_pb.SetRequest(namespace="default", key="", value=b"v"), timeout=5)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.aio.AioRpcError) as info:  # no TTL support: said, not ignored
            ttl_request = kv_pb.SetRequest(namespace="default", key="t", value=b"v", ttl_seconds=1)
            await kv.Set(ttl_request, timeout=5)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    shutdown.set()
    assert await asyncio.wait_for(task, 10) == 0


def test_minimal_example_is_at_most_40_lines() -> None:
    import prism.sdk.examples.minimal_kv as example

    with open(example.__file__, encoding="utf-8") as f:
        assert len(f.read().splitlines()) <= 40


async def _access_lines(*flags: str) -> list[str]:
    """The access log lines of a plugin process that served one Set and one Get."""
    async with plugin_process("-m", EXAMPLE, "--port", "0", *flags) as proc:
        address = (await first_line(proc)).strip().rsplit(" ", 1)[1]
        async with grpc.aio.insecure_channel(address) as channel:
            kv = kv_grpc.KeyValueBasicInterfaceStub(channel)
            await kv.Set(kv_pb.SetRequest(namespace="default", key="a", value=b"1"), timeout=10)
            await kv.Get(kv_pb.GetRequest(namespace="default", key="a"), timeout=10)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
        return [line for line in (await stderr_text(proc)).splitlines() if "prism.access" in line]


async def test_access_log_flag_logs_every_call_default_samples() -> None:
    assert await _access_lines() == []  # two fast successes: below the 1-in-100 sample
    lines = await _access_lines("--access-log")
    assert len(lines) == 2
    assert "/prism.KeyValueBasicInterface/Set code=OK" in lines[0]
    assert "/prism.KeyValueBasicInterface/Get code=OK" in lines[1]

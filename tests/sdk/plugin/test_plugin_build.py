"""Building a plugin once its settings are final: Built attributes and built Resources."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import grpc
import pytest

from prism.interfaces import keyvalue_basic_pb2 as kv_pb
from prism.interfaces import keyvalue_basic_pb2_grpc as kv_grpc
from prism.interfaces import lifecycle_pb2 as lc_pb
from prism.interfaces import lifecycle_pb2_grpc as lc_grpc
from prism.sdk.backend import Resource
from prism.sdk.config import PluginSettings, SettingsConfigDict, load_settings
from prism.sdk.errors import (
    FailedPreconditionError,
    InvalidArgumentError,
    PermanentError,
    PrismError,
    ResourceExhaustedError,
    UnavailableError,
)
from prism.sdk.health import HealthChecker
from prism.sdk.patterns import Entry, KeyValueBasicServicer, keyvalue_bindings
from prism.sdk.plugin import Built, NotBuiltError, Plugin, PluginRuntime, ServiceBinding
from sdk.plugin.plugin_fakes import start_serving


class BuildSettings(PluginSettings):
    model_config = SettingsConfigDict(env_prefix="PRISM_BUILDKV_", extra="forbid")
    capacity: int = 10
    fail: str = ""  # how initialize() (or the store's start) fails, for the failure tests


class Store(Resource):
    """A capacity-bounded KeyValueStore that records what the runtime does with it."""

    def __init__(self, capacity: int, events: list[str], *, fail_start: bool = False) -> None:
        self.capacity, self.events, self.fail_start = capacity, events, fail_start
        self.data: dict[tuple[str, str], Entry] = {}

    def register_health(self, health: HealthChecker) -> None:
        self.events.append("register_health")
        health.register("store", self._check)

    async def _check(self) -> None:
        return None

    async def start(self) -> None:
        self.events.append("start")
        if self.fail_start:
            raise ConnectionRefusedError("store server refused the connection")

    async def close(self, timeout: float | None = None) -> None:
        self.events.append(f"close {timeout}")

    async def set(
        self, ns: str, key: str, value: bytes, ttl: float | None, tags: Mapping[str, str]
    ) -> bool:
        if (ns, key) not in self.data and len(self.data) >= self.capacity:
            raise ResourceExhaustedError(f"store holds {self.capacity} keys")
        created = (ns, key) not in self.data
        self.data[ns, key] = Entry(value, dict(tags))
        return created

    async def get(self, ns: str, key: str) -> Entry | None:
        return self.data.get((ns, key))

    async def delete(self, ns: str, key: str) -> bool:
        return self.data.pop((ns, key), None) is not None

    async def exists(self, ns: str, key: str) -> bool:
        return (ns, key) in self.data


class BuildKV(Plugin[BuildSettings]):
    name = "buildkv"
    store = Built[Store]()

    def __init__(self, settings: BuildSettings) -> None:
        super().__init__(settings)
        self.events: list[str] = []
        self.builds = 0

    def servicers(self) -> Sequence[ServiceBinding]:
        return keyvalue_bindings(Store, lambda: self.store)

    async def initialize(self) -> None:
        self.builds += 1
        fail = self.settings.fail
        if fail == "connect":
            raise ConnectionRefusedError("backend at 127.0.0.1:1 refused the connection")
        if fail == "bug":
            raise ValueError("capacity arithmetic went wrong")
        if fail == "invalid":
            raise InvalidArgumentError("capacity must be even with fail=invalid")
        if fail != "forget":
            self.store = Store(self.settings.capacity, self.events, fail_start=fail == "start")
        self.events.append("initialize")


def test_the_settings_class_is_the_one_in_plugin_generic() -> None:
    assert BuildKV.settings_class is BuildSettings


def make(**overrides: object) -> BuildKV:
    return BuildKV(load_settings(BuildSettings, overrides=overrides, environ={}))


async def set_keys(kv: kv_grpc.KeyValueBasicInterfaceStub, count: int) -> None:
    for i in range(count):
        await kv.Set(kv_pb.SetRequest(namespace="ns", key=f"k{i}", value=b"v"), timeout=5)


async def test_initialize_overrides_reach_the_built_object_and_what_is_served() -> None:
    plugin = make(capacity=10)
    task, _, out = await start_serving(plugin, managed=True)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{out.port}") as channel:
        lc = lc_grpc.LifecycleInterfaceStub(channel)
        kv = kv_grpc.KeyValueBasicInterfaceStub(channel)
        config = {"capacity": "2", "drain_timeout": "7s"}
        await lc.Initialize(lc_pb.InitializeRequest(config=config), timeout=5)
        assert plugin.store.capacity == 2
        await lc.Start(lc_pb.StartRequest(), timeout=5)
        await set_keys(kv, 2)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await set_keys(kv, 3)  # the served store is the one built with capacity 2
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert (await plugin.health.run_checks()).checks.keys() == {"store"}
        await lc.Stop(lc_pb.StopRequest(timeout_seconds=1), timeout=5)
    assert await asyncio.wait_for(task, 10) == 0
    assert plugin.builds == 1
    assert plugin.events == ["initialize", "register_health", "start", "close 7.0"]


async def test_auto_mode_builds_the_same_way() -> None:
    plugin = make(capacity=1)
    task, shutdown, out = await start_serving(plugin, managed=False)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{out.port}") as channel:
        kv = kv_grpc.KeyValueBasicInterfaceStub(channel)
        await set_keys(kv, 1)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await set_keys(kv, 2)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    shutdown.set()
    assert await asyncio.wait_for(task, 10) == 0
    assert plugin.builds == 1
    assert plugin.events[:3] == ["initialize", "register_health", "start"]
    assert plugin.events[3].startswith("close ")


async def test_initialize_runs_once_and_a_built_attribute_is_assigned_once() -> None:
    plugin = make()
    runtime = PluginRuntime(plugin)
    await runtime.initialize()
    with pytest.raises(FailedPreconditionError, match="already initialized"):
        await runtime.initialize({"capacity": "3"})
    assert plugin.builds == 1 and plugin.store.capacity == 10
    with pytest.raises(FailedPreconditionError, match="buildkv: store is already built"):
        plugin.store = Store(3, [])
    await runtime.stop()


async def test_using_the_store_before_it_is_built_is_a_clear_failed_precondition() -> None:
    plugin = make()
    with pytest.raises(NotBuiltError, match="plugin buildkv: store is not built yet") as info:
        _ = plugin.store
    assert info.value.grpc_status == grpc.StatusCode.FAILED_PRECONDITION
    servicer = plugin.servicers()[0].servicer  # made before Initialize, as the server does
    assert isinstance(servicer, KeyValueBasicServicer)
    with pytest.raises(NotBuiltError, match="store is not built yet"):
        await servicer.Get(kv_pb.GetRequest(namespace="ns", key="k"), None)
    await PluginRuntime(plugin).initialize()
    with pytest.raises(PrismError, match="not found"):  # the same servicer, now built
        await servicer.Get(kv_pb.GetRequest(namespace="ns", key="k"), None)


@pytest.mark.parametrize(
    ("fail", "error", "message"),
    [
        ("connect", UnavailableError, "backend at 127.0.0.1:1 refused the connection"),
        ("bug", PermanentError, "ValueError: capacity arithmetic went wrong"),
        ("invalid", InvalidArgumentError, "capacity must be even with fail=invalid"),
        ("forget", FailedPreconditionError, r"initialize\(\) did not build store"),
        ("start", UnavailableError, "store server refused the connection"),
    ],
)
async def test_a_failed_build_fails_initialize_naming_the_plugin(
    fail: str, error: type[PrismError], message: str
) -> None:
    plugin = make(fail=fail)
    runtime = PluginRuntime(plugin)
    with pytest.raises(error, match=f"^plugin buildkv: initialize failed: {message}$"):
        await runtime.initialize()
    with pytest.raises(NotBuiltError):  # nothing half-built stays behind
        _ = plugin.store
    if fail == "start":
        assert plugin.events == ["initialize", "register_health", "start", "close 0.0"]


async def test_initialize_rpc_reports_a_failed_build_and_a_retry_builds_afresh() -> None:
    plugin = make()
    task, shutdown, out = await start_serving(plugin, managed=True)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{out.port}") as channel:
        lc = lc_grpc.LifecycleInterfaceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await lc.Initialize(lc_pb.InitializeRequest(config={"fail": "invalid"}), timeout=5)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert info.value.details() == (
            "plugin buildkv: initialize failed: capacity must be even with fail=invalid"
        )
        await lc.Initialize(lc_pb.InitializeRequest(config={"capacity": "4"}), timeout=5)
        assert plugin.store.capacity == 4
    shutdown.set()
    assert await asyncio.wait_for(task, 10) == 0

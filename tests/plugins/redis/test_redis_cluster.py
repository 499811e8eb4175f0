"""The Redis plugin on a real Redis Cluster (3 masters + 3 replicas): the conformance kits,
and WAIT durability through a master's SIGKILL."""

from __future__ import annotations

import asyncio
import collections
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
import redis.asyncio
import redis.exceptions

from plugins.redis.conftest import settings
from prism.interfaces import keyvalue_basic_pb2, keyvalue_basic_pb2_grpc
from prism.plugins.redis import RedisPlugin
from prism.plugins.redis.connection import RedisFactory, namespace_prefix
from prism.sdk.testing import (
    KeyValueBasicConformance,
    KeyValueScanConformance,
    KeyValueTTLConformance,
    PubSubBasicConformance,
    running_plugin,
)
from services.servers import RedisCluster, redis_cluster


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisCluster]:
    with redis_cluster() as c:
        yield c


@pytest.fixture
async def redis_plugin(cluster: RedisCluster) -> AsyncIterator[tuple[RedisPlugin, str]]:
    plugin = RedisPlugin(settings(addr=cluster.addrs[0], cluster=True, wait_replicas=1))
    async with running_plugin(plugin) as address:
        yield plugin, address


class TestClusterKeyValue(KeyValueBasicConformance):
    pass


class TestClusterTTL(KeyValueTTLConformance):
    pass


class TestClusterScan(KeyValueScanConformance):
    pass


class TestClusterPubSub(PubSubBasicConformance):
    pass


async def _command_table_fetches(cluster: RedisCluster) -> int:
    """COMMAND (the whole command table) calls served by every node so far."""
    total = 0
    for addr in cluster.addrs:
        host, _, port = addr.rpartition(":")
        node = redis.asyncio.Redis(host=host, port=int(port))
        try:
            stats = await node.info("commandstats")
            total += int(stats.get("cmdstat_command", {}).get("calls", 0))
        finally:
            await node.aclose()
    return total


async def test_new_cluster_clients_reuse_the_command_table(cluster: RedisCluster) -> None:
    """Each client used to fetch COMMAND (~0.3 s on a loaded host) and Subscribe's own client
    then missed ``connect_timeout`` (UNAVAILABLE, seen 2 in 40 Unsubscribe runs)."""
    factory = RedisFactory(settings(addr=cluster.addrs[0], cluster=True))
    clients = [await factory.create()]
    try:
        before = await _command_table_fetches(cluster)
        clients += [await factory.create(blocking=True) for _ in range(3)]
        for client in clients:
            await client.xlen("{t}s")  # keys are still found
        assert await _command_table_fetches(cluster) == before
    finally:
        for client in clients:
            await factory.close(client)


NS = "failover"
SLOW = 3.0  # seconds a call may take to fail during the failover (seen: < 0.6 s)
RECOVERY_LIMIT = 40.0  # seconds after the kill by which writes must succeed again
DOWN = 5.0  # seconds a killed master stays down when it is started again (as in the soak)


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[RedisCluster]:
    """3 masters with 2 replicas each: after a master dies, its promoted replica still has a
    replica, so writes with WAIT 1 can succeed again without the dead node. Each failover
    run starts its dead node again and waits until it is a replica in sync."""
    with redis_cluster(replicas=2) as c:
        yield c


async def _namespace_master(cluster: RedisCluster, *, skip: str = "") -> str | None:
    """host:port of the live master that owns NS's slot, as the first node other than ``skip``
    sees it; None while no live master owns it."""
    host, _, port = next(a for a in cluster.addrs if a != skip).rpartition(":")
    node: Any = redis.asyncio.Redis(host=host, port=int(port), socket_timeout=2.0)
    try:
        slot = int(await node.execute_command("CLUSTER KEYSLOT", namespace_prefix(NS) + "k"))
        nodes = await node.execute_command("CLUSTER NODES")  # parsed by redis-py
    finally:
        await node.aclose()
    for addr, info in nodes.items():
        if "master" not in info["flags"] or "fail" in info["flags"]:
            continue
        if any(int(r[0]) <= slot <= int(r[-1]) for r in info["slots"]):
            return str(addr)
    return None


async def _in_sync(addr: str) -> bool:
    host, _, port = addr.rpartition(":")
    node = redis.asyncio.Redis(host=host, port=int(port), socket_timeout=2.0)
    try:
        info = await node.info("replication")
    except redis.exceptions.ConnectionError:
        return False
    finally:
        await node.aclose()
    return info.get("role") == "slave" and info.get("master_link_status") == "up"


class Writers:
    """``n`` writers setting distinct keys of NS back to back; which were acknowledged, which
    failed (code, seconds), and when each succeeded."""

    def __init__(self, channel: grpc.aio.Channel, n: int = 4) -> None:
        self.kv = keyvalue_basic_pb2_grpc.KeyValueBasicInterfaceStub(channel)
        self.n, self.acked = n, list[str]()
        self.ok: list[tuple[float, float]] = []  # (started, acknowledged) per acknowledged write
        self.failures: list[tuple[grpc.StatusCode, float]] = []
        self.stop = asyncio.Event()

    async def _one(self, w: int) -> None:
        i = 0
        while not self.stop.is_set():
            key, started = f"w{w}-{i}", time.monotonic()
            try:
                await self.kv.Set(
                    keyvalue_basic_pb2.SetRequest(namespace=NS, key=key, value=key.encode()),
                    timeout=30,
                )
                self.acked.append(key)
                self.ok.append((started, time.monotonic()))
            except grpc.aio.AioRpcError as exc:
                self.failures.append((exc.code(), time.monotonic() - started))
                await asyncio.sleep(0.01)
            i += 1

    async def run(self) -> None:
        await asyncio.gather(*(self._one(w) for w in range(self.n)))

    async def lost(self) -> list[str]:
        """Acknowledged keys that a Get no longer finds."""
        missing = []
        for key in self.acked:
            reply = await self.kv.Get(keyvalue_basic_pb2.GetRequest(namespace=NS, key=key))
            if reply.value != key.encode():
                missing.append(key)
        return missing


@dataclass
class Failover:
    """What one failover run saw (seconds are from the SIGKILL)."""

    writers: Writers
    rate: float  # acknowledged writes/s before the kill
    promoted: float  # a replica owns the slot
    recovered: float  # first acknowledged write
    lost: list[str]


async def _until(what: str, check: Callable[[], Awaitable[bool]], since: float) -> float:
    """Seconds from ``since`` until ``check()`` holds (polled; fails after RECOVERY_LIMIT)."""
    while not await check():
        assert time.monotonic() - since < RECOVERY_LIMIT, f"{what}: not within {RECOVERY_LIMIT}s"
        await asyncio.sleep(0.02)
    return time.monotonic() - since


async def _failover(cluster: RedisCluster, wait_replicas: int) -> Failover:
    """4 writers under load; after 2 s the namespace's master is SIGKILLed (and left dead):
    when is a replica promoted, when does a write succeed again, what was lost."""
    master = await _namespace_master(cluster)
    assert master is not None
    plugin = RedisPlugin(
        settings(
            addr=cluster.addrs[0],
            cluster=True,
            wait_replicas=wait_replicas,
            breaker_open_seconds=0.2,
        )
    )
    async with running_plugin(plugin) as address, grpc.aio.insecure_channel(address) as channel:
        writers = Writers(channel)
        task = asyncio.create_task(writers.run())
        await asyncio.sleep(2.0)  # the load before the kill
        rate = len(writers.acked) / 2.0
        await asyncio.to_thread(cluster.kill, cluster.addrs.index(master) + 1)
        killed_at = time.monotonic()

        async def promoted() -> bool:
            return await _namespace_master(cluster, skip=master) not in (None, master)

        def after_kill() -> list[float]:
            """When writes sent after the kill were acknowledged (earlier ones may have been
            acknowledged just after it)."""
            return [done for started, done in writers.ok if started > killed_at]

        async def written() -> bool:
            return bool(after_kill())

        promoted_after = await _until("promotion", promoted, killed_at)
        await _until("a write after the kill", written, killed_at)
        recovered = min(after_kill()) - killed_at
        await asyncio.sleep(1.0)  # writes go on after the recovery
        writers.stop.set()
        await task
        run = Failover(writers, rate, promoted_after, recovered, await writers.lost())
    await asyncio.to_thread(cluster.start, cluster.addrs.index(master) + 1)
    await _until("the killed node back as a replica", lambda: _in_sync(master), time.monotonic())
    failures = writers.failures
    print(
        f"wait_replicas={wait_replicas}: {rate:.0f} writes/s before the kill; replica promoted"
        f" {promoted_after:.2f}s after it, first write OK at {recovered:.2f}s;"
        f" {len(failures)} failed calls {collections.Counter(c.name for c, _ in failures)}"
        f" (slowest {max((s for _, s in failures), default=0):.2f}s),"
        f" {len(writers.acked)} acknowledged, {len(run.lost)} lost"
    )
    return run


def _failed_fast(run: Failover) -> None:
    for code, seconds in run.writers.failures:
        assert code == grpc.StatusCode.UNAVAILABLE, code
        assert seconds < SLOW, f"a call took {seconds:.2f}s to fail during the failover"


async def test_master_killed_with_wait_loses_no_acknowledged_write(
    own_cluster: RedisCluster,
) -> None:
    run = await _failover(own_cluster, wait_replicas=1)
    assert run.writers.failures, "the kill was not noticed: the test did not exercise a failover"
    _failed_fast(run)
    assert run.lost == []


async def test_master_killed_without_wait_reports_losses(own_cluster: RedisCluster) -> None:
    _failed_fast(await _failover(own_cluster, wait_replicas=0))


def _connections_to(cluster: RedisCluster) -> int:
    """Established TCP connections of this process (the plugin runs in it) to the cluster."""
    ports = {int(a.rpartition(":")[2]) for a in cluster.addrs}
    ours = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            ours.add(target[len("socket:[") : -1])
    with open("/proc/net/tcp") as table:
        rows = [line.split() for line in table.read().splitlines()[1:]]
    established = "01"
    return sum(
        1
        for row in rows
        if row[3] == established and int(row[2].rpartition(":")[2], 16) in ports and row[9] in ours
    )


async def test_failover_under_load_keeps_connections_flat_and_fails_unavailable(
    cluster: RedisCluster,
) -> None:
    """The soak's failover, small: one replica per master, WAIT 1, default pool and breaker,
    more writers than pooled clients; the killed master starts again after DOWN seconds (its
    promoted replica has no replica of its own until then, so writes fail WAIT). After the
    recovery the plugin holds about as many connections as before (discarded cluster clients
    used to keep theirs open, and kept ones one more per slot-map read), and every failed call
    was UNAVAILABLE (callers queued for a client behind failing writes got
    RESOURCE_EXHAUSTED)."""
    master = await _namespace_master(cluster)
    assert master is not None
    node = cluster.addrs.index(master) + 1
    plugin = RedisPlugin(settings(addr=cluster.addrs[0], cluster=True, wait_replicas=1))
    max_open = plugin.settings.pool_max_open
    async with running_plugin(plugin) as address, grpc.aio.insecure_channel(address) as channel:
        writers = Writers(channel, n=4 * max_open)
        task = asyncio.create_task(writers.run())
        await asyncio.sleep(2.0)  # the load before the kill opens the whole pool
        before = _connections_to(cluster)
        await asyncio.to_thread(cluster.kill, node)
        killed_at = time.monotonic()

        async def promoted() -> bool:
            return await _namespace_master(cluster, skip=master) not in (None, master)

        await _until("promotion", promoted, killed_at)
        await asyncio.sleep(max(0.0, DOWN - (time.monotonic() - killed_at)))
        await asyncio.to_thread(cluster.start, node)
        restarted_at = time.monotonic()

        async def written() -> bool:
            return any(started > restarted_at for started, _ in writers.ok)

        await _until("a write after the restart", written, restarted_at)
        await asyncio.sleep(3.0)  # writes go on after the recovery
        after = _connections_to(cluster)
        writers.stop.set()
        await task
    await _until("the killed node back as a replica", lambda: _in_sync(master), time.monotonic())
    codes = collections.Counter(code.name for code, _ in writers.failures)
    print(f"connections to the cluster: {before} before the kill, {after} after; failed: {codes}")
    assert writers.failures, "the kill was not noticed: the test did not exercise a failover"
    assert set(codes) == {"UNAVAILABLE"}, codes
    # At most two per pooled client: its namespace's master and the node its pings go to.
    assert after <= 2 * max_open, f"{before} connections before the failover, {after} after"


async def test_wait_cost(cluster: RedisCluster) -> None:
    """Set latency without and with WAIT 1, same run, same cluster (figures in docs/plugins.md)."""
    medians: dict[int, list[float]] = {}
    for wait in (0, 1, 0, 1):
        plugin = RedisPlugin(settings(addr=cluster.addrs[0], cluster=True, wait_replicas=wait))
        async with running_plugin(plugin) as address, grpc.aio.insecure_channel(address) as ch:
            kv = keyvalue_basic_pb2_grpc.KeyValueBasicInterfaceStub(ch)
            took = []
            for i in range(300):
                started = time.perf_counter()
                await kv.Set(
                    keyvalue_basic_pb2.SetRequest(namespace="cost", key=f"k{i}", value=b"v")
                )
                took.append(time.perf_counter() - started)
        medians.setdefault(wait, []).append(sorted(took)[len(took) // 2] * 1000)
    print(
        f"Set median ms, WAIT off {medians[0]} / WAIT 1 {medians[1]}:"
        f" ratio {min(medians[1]) / min(medians[0]):.2f}"
    )

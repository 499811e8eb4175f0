"""prism-loadtest's multicast registry scenarios on this plugin against a real Redis (registry; pub/sub messaging) and a
real NATS (messaging).

Shorter and slower than the memo's runs (2 s at 10-20 ops/s, 40 identities: the accounting is
tested, not the figures; tests run under coverage on a shared 2-core box, where Redis fan-out
at higher rates exhausts the plugin's 16-connection pool, see docs/loadtest.md).
Every targeted identity has a live receiver, so the delivery rate counted at receipt must be
exactly 100%. A real Redis from tests/services (PRISM_TEST_REDIS_ADDR or our own; never skipped).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prism.loadtest.cli import main
from services.nats_servers import NatsServer
from services.servers import RedisServer


def _run(argv: list[str], out: Path) -> dict[str, object]:
    assert main([*argv, "--quiet", "--json", str(out)]) == 0
    report: dict[str, object] = json.loads(out.read_text())
    return report


@pytest.mark.parametrize(
    "command",
    [
        ["multicast", "-r", "10", "--identities", "40", "--groups", "4"],
        ["mixed", "-r", "20", "--identities", "40", "--groups", "4"],
    ],
    ids=["multicast", "mixed"],
)
@pytest.mark.parametrize("messaging", ["redis", "nats"])
def test_delivery_rate_is_100_percent_with_live_receivers(
    redis_srv: RedisServer,
    nats_srv: NatsServer,
    tmp_path: Path,
    command: list[str],
    messaging: str,
) -> None:
    argv = [*command, "-d", "2s", "--redis-addr", redis_srv.addr]
    expected = {"registry": "redis", "messaging": messaging, "redis_addr": redis_srv.addr}
    if messaging == "nats":
        argv += ["--nats-servers", nats_srv.url]
        expected["nats_servers"] = nats_srv.url
    report = _run(argv, tmp_path / "r.json")
    settings = report["settings"]  # the plugin's settings: these among them
    assert {k: settings[k] for k in expected} == expected  # type: ignore[index]
    assert report["errors"] == {}
    delivery = report["custom"]["delivery"]  # type: ignore[index]
    assert (delivery["receivers"], delivery["receivers_in"]) == (40, "child process")
    assert delivery["receivers_error"] is None
    assert delivery["targets"] == 10 * delivery["multicasts"] > 0
    assert delivery["delivered"] == delivery["slot_delivered"] == delivery["targets"]
    assert delivery["failed"] == delivery["no_receiver"] == delivery["duplicates"] == 0
    assert delivery["delivery_rate"] == 1.0


def test_enumerate_reads_the_redis_registry(redis_srv: RedisServer, tmp_path: Path) -> None:
    argv = ["enumerate", "-r", "20", "-d", "1s", "--identities", "90", "--groups", "3"]
    report = _run([*argv, "--redis-addr", redis_srv.addr], tmp_path / "e.json")
    assert report["settings"]["messaging"] == "inprocess"  # type: ignore[index]
    custom = report["custom"]
    assert custom["enumerate_calls"] == 20  # type: ignore[index]
    assert custom["enumerated"] == 20 * 30  # type: ignore[index]


def test_setup_registers_no_more_at_once_than_the_pool_has_connections(
    redis_srv: RedisServer, tmp_path: Path
) -> None:
    # One connection, and a register that waits 20 ms for it fails (RESOURCE_EXHAUSTED): setup
    # registering 128 at once (the old batch) failed like this on a loaded machine; bounded by
    # the pool size, no setup register ever waits for a connection.
    argv = ["enumerate", "-r", "1", "-d", "1s", "--identities", "400", "--groups", "4"]
    pool = ["--set", "pool_max_open=1", "--set", "pool_acquire_timeout=20ms"]
    report = _run([*argv, *pool, "--redis-addr", redis_srv.addr], tmp_path / "s.json")
    assert report["settings"]["pool_max_open"] == 1  # type: ignore[index]
    assert report["custom"]["enumerated"] == 100  # type: ignore[index]

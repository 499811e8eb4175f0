"""bench_overhead --quick for the registry operations, on a real Redis (and NATS): both tiers
run the same operation over the same preload, and every multicast reaches every receiver of its
group in both tiers (delivery counted at receipt)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bench_overhead import main

from services.nats_servers import NatsServer, shared_nats
from services.servers import RedisServer, shared_redis


@pytest.fixture(scope="module")
def redis_srv() -> Iterator[RedisServer]:
    with shared_redis() as server:
        yield server


@pytest.fixture(scope="module")
def nats_srv() -> Iterator[NatsServer]:
    with shared_nats() as server:
        yield server


def run(out: Path, *argv: str) -> dict[str, Any]:
    assert main(["--quick", "--rate", "20", "--out", str(out), *argv]) == 0
    assert (out / "overhead.md").read_text().count("\n| ") >= 6
    doc: dict[str, Any] = json.loads((out / "overhead.json").read_text())
    return doc


def assert_both_tiers_ok(doc: dict[str, Any]) -> None:
    rows = {r["row"]: r for r in doc["rows"]}
    pattern = rows["pattern level, service (actual start)"]
    gateway = rows["gateway via ghz (actual start)"]
    assert pattern["count"] == pattern["ok"] == 40  # 20/s for 2 s
    assert gateway["count"] == gateway["ok"] > 0
    assert doc["gateway_ghz"]["statusCodeDistribution"] == {"OK": gateway["count"]}


def test_enumerate_reads_one_group_in_both_tiers(redis_srv: RedisServer, tmp_path: Path) -> None:
    doc = run(tmp_path, "--op", "enumerate", "--redis-addr", redis_srv.addr, "--identities", "200")
    assert_both_tiers_ok(doc)
    assert (doc["identities"], doc["groups"]) == (200, 10)
    custom = doc["pattern_level"]["custom"]
    assert custom["enumerated"] == 20 * custom["enumerate_calls"] == 20 * 40


@pytest.mark.parametrize("messaging", ["nats", "redis"])
def test_multicast_delivers_to_every_receiver_in_both_tiers(
    messaging: str, redis_srv: RedisServer, nats_srv: NatsServer, tmp_path: Path
) -> None:
    nats = ["--nats-servers", nats_srv.url] if messaging == "nats" else []
    doc = run(tmp_path, "--op", "multicast", "--redis-addr", redis_srv.addr, *nats)
    assert_both_tiers_ok(doc)
    assert (doc["identities"], doc["groups"]) == (100, 10)
    pattern, gateway = doc["delivery"]["pattern level"], doc["delivery"]["gateway"]
    assert pattern["targets"] == 40 * 10
    ok_calls = doc["gateway_ghz"]["statusCodeDistribution"]["OK"]
    # each Multicast found exactly its group's 10 identities, and each of them got it
    assert gateway["targets"] == ok_calls * 10
    assert pattern["delivered"] == pattern["targets"]
    assert gateway["delivered"] == gateway["targets"]
    assert gateway["receiver_errors"] == 0
    assert doc["messaging"] == doc["pattern_level"]["settings"]["messaging"] == messaging


def test_registry_ops_need_a_redis(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main(["--op", "enumerate", "--quick", "--out", str(tmp_path)])
    with pytest.raises(SystemExit):  # groups of unequal size would not compare
        main(["--op", "multicast", "--redis-addr", "127.0.0.1:1", "--identities", "15"])

"""bench_multicast: the rate sweep for "highest rate with register p95 < 5 ms" (which rate, or
none, found without probing every rate), and its --quick run with --json on real Redis and NATS."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bench_multicast import main, rate_label, sweep

from services.nats_servers import NatsServer, shared_nats
from services.servers import RedisServer, shared_redis

RATES: list[float] = [50, 100, 200, 400, 800, 1600]


def swept(edge: float, rates: list[float] = RATES, failing_from: float = 1e9) -> dict[str, Any]:
    """Sweep a fake probe whose p95 is 5 ms at ``edge`` ops/s (linear), and whose calls fail
    from ``failing_from``."""

    async def probe(rate: float) -> tuple[list[float], int]:
        return [5.0 * rate / edge] * 20, int(rate >= failing_from)

    return asyncio.run(sweep(probe, rates))


def test_the_sweep_refines_between_the_last_pass_and_the_first_miss() -> None:
    row = swept(edge=700)  # 560/s: p95 4.0 ms; 784/s: 5.6 ms
    assert [p["rate"] for p in row["probes"]] == [50, 100, 200, 400, 800, 560, 784]
    assert (row["max_rate_p95_under_5ms"], row["first_failing_rate"]) == (560, 784)
    assert rate_label(row) == "560"


def test_the_sweep_stops_at_the_first_miss() -> None:
    row = swept(edge=300)  # no probe above 400/s, the first miss
    assert [p["rate"] for p in row["probes"]] == [50, 100, 200, 400, 280, 392]
    assert (row["max_rate_p95_under_5ms"], row["first_failing_rate"]) == (280, 392)
    assert [p["passed"] for p in row["probes"]] == [True, True, True, False, True, False]


def test_none_when_the_lowest_rate_misses() -> None:
    row = swept(edge=40)
    assert len(row["probes"]) == 1
    assert row["max_rate_p95_under_5ms"] is None
    assert rate_label(row) == "none"


def test_failed_calls_miss_even_with_a_low_p95() -> None:
    row = swept(edge=1e6, failing_from=400)
    assert [p["rate"] for p in row["probes"]] == [50, 100, 200, 400, 280, 392]
    assert (row["max_rate_p95_under_5ms"], row["first_failing_rate"]) == (392, 400)


def test_no_miss_is_reported_as_at_least_the_top_rate() -> None:
    row = swept(edge=1e6)
    assert row["first_failing_rate"] is None
    assert rate_label(row) == ">=1600"


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[RedisServer, NatsServer]]:
    with shared_redis() as redis, shared_nats() as nats:
        yield redis, nats


def test_quick_run_writes_every_row_as_json(
    servers: tuple[RedisServer, NatsServer], tmp_path: Path
) -> None:
    redis, nats = servers
    out = tmp_path / "multicast.json"
    main(["--quick", "--redis-addr", redis.addr, "--nats-servers", nats.url, "--json", str(out)])
    doc = json.loads(out.read_text())
    assert [r["label"] for r in doc["rows"]] == ["memstore+inprocess", "redis+redis", "redis+nats"]
    for row in doc["rows"]:
        assert row["success"] == 1.0
        assert row["probes"][0]["rate"] == 500
        assert row["max_rate_p95_under_5ms"] in (None, 500)
        assert (row["targeted"], row["delivered"], row["received"]) == (100, 100, 100)

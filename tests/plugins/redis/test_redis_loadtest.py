"""prism-loadtest drives the Redis plugin found by name (no list in the load tool), against a
real Redis (tests/services: PRISM_TEST_REDIS_ADDR or our own; never skipped)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from prism.loadtest.backends import open_pubsub
from prism.loadtest.cli import main
from prism.loadtest.profiles import constant
from prism.loadtest.pubsub import PubSubScenario
from prism.loadtest.runner import Runner
from services.servers import RedisServer, shared_redis


@pytest.fixture(scope="module")
def redis_srv() -> Iterator[RedisServer]:
    with shared_redis() as server:
        yield server


def test_cli_kv_on_redis(redis_srv: RedisServer, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    argv = [
        "kv",
        "--plugin",
        "redis",
        "--set",
        f"addr={redis_srv.addr}",
        "--rate",
        "100",
        "--duration",
        "1s",
        "--keys",
        "200",
        "--quiet",
        "--json",
        str(out),
    ]
    assert main(argv) == 0
    report = json.loads(out.read_text())
    assert report["plugin"] == "redis"
    assert report["achieved"]["completed"] == report["target"]["ops"] == 100
    assert report["errors"] == {}
    assert report["settings"]["addr"] == redis_srv.addr


async def test_pubsub_on_redis_delivers_everything_to_every_subscriber(
    redis_srv: RedisServer,
) -> None:
    async with open_pubsub("redis", {"addr": redis_srv.addr}) as opened:
        scenario = PubSubScenario(opened.target, subscribers=2)  # type: ignore[arg-type]
        await scenario.setup()
        try:
            result = await Runner(constant(100, 1.0), scenario).run()
            await scenario.settle(5.0)
            custom = scenario.custom()
        finally:
            await scenario.teardown()
    assert result.recorder.total.errors == {}
    assert custom["published"] == 100
    for sub in custom["subscribers"]:
        assert sub["received"] == 100 and sub["delivery_rate"] == 1.0
        assert sub["latency_ms"]["max"] > 0

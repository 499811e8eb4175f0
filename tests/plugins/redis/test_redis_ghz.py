"""Redis's ghz suites (ghz/suites) run green through `prism up --config ghz/prism.yaml`, on a
real Redis (its address replaces the file's)."""

from __future__ import annotations

from pathlib import Path

from load.ghz_suites import run_plugin_suites

from services.servers import RedisServer

GHZ_DIR = Path(__file__).resolve().parent / "ghz"


def test_ghz_suites_through_the_gateway(redis_srv: RedisServer, tmp_path: Path) -> None:
    config = (GHZ_DIR / "prism.yaml").read_text().replace("127.0.0.1:6379", redis_srv.addr)
    reports = run_plugin_suites(GHZ_DIR, tmp_path, config)
    assert reports.keys() >= {"kv_set", "pubsub_publish", "pubsub_subscribe"}
    # Subscribe streams are ended by ghz once a message arrived (client-cancel suite).
    assert set(reports["pubsub_subscribe"]["statusCodeDistribution"]) == {"Canceled"}

"""The cassandra plugin's ghz suites (ghz/suites) run green through `prism up --config
ghz/prism.yaml`, on a real Cassandra node (its address replaces the file's): every call of
every suite succeeds."""

from __future__ import annotations

from pathlib import Path

from load.ghz_suites import plugin_suites, run_plugin_suites

from services.cassandra_servers import CassandraNode

GHZ_DIR = Path(__file__).resolve().parent / "ghz"


def test_ghz_suites_through_the_gateway(cassandra: CassandraNode, tmp_path: Path) -> None:
    config = (GHZ_DIR / "prism.yaml").read_text().replace("127.0.0.1:9042", cassandra.addr)
    reports = run_plugin_suites(GHZ_DIR, tmp_path, config)
    assert sorted(reports) == sorted(plugin_suites(GHZ_DIR))

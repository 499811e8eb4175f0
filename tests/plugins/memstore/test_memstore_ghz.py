"""MemStore's ghz suites (ghz/suites) run green through `prism up --config ghz/prism.yaml`."""

from __future__ import annotations

from pathlib import Path

from load.ghz_suites import run_plugin_suites

GHZ_DIR = Path(__file__).resolve().parent / "ghz"


def test_ghz_suites_through_the_gateway(tmp_path: Path) -> None:
    reports = run_plugin_suites(GHZ_DIR, tmp_path)
    assert reports.keys() >= {"kv_set", "kv_get", "scan_scan", "ttl_expire"}

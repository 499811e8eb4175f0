"""The JSON report schema and the command line (MemStore, in process)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prism.loadtest.cli import main
from prism.loadtest.kv import KvScenario
from prism.loadtest.profiles import spike
from prism.loadtest.report import SCHEMA, build_report, format_summary
from prism.loadtest.runner import Runner
from prism.plugins.memstore import MemStore

LATENCY_KEYS = {"p50", "p95", "p99", "p999", "max", "mean"}


async def test_report_schema() -> None:
    scenario = KvScenario(MemStore(max_keys=1000, max_bytes=1 << 20), keys=10)
    await scenario.setup()
    result = await Runner(spike(20, 100, at=0.1, length=0.1, duration=0.3), scenario).run()
    report = build_report(
        result,
        scenario="kv",
        plugin="memstore",
        command=["x"],
        concurrency=64,
        custom=scenario.custom(),
    )
    report = json.loads(json.dumps(report))  # JSON-clean
    assert report["schema"] == SCHEMA
    assert set(report) >= {
        "command",
        "machine",
        "profile",
        "target",
        "achieved",
        "errors",
        "operations",
        "custom",
    }
    assert set(report["machine"]) >= {"python", "cpu_count", "date", "load_average"}
    assert report["profile"] == {
        "name": "spike",
        "duration_s": 0.3,
        "rate": 20,
        "spike_rate": 100,
        "spike_at": 0.1,
        "spike_for": 0.1,
    }
    assert report["target"]["ops"] == 14
    assert set(report["achieved"]) == {"issued", "completed", "ok", "missed", "unfinished", "rate"}
    for op in report["operations"].values():
        assert set(op) == {"count", "ok", "errors", "success_rate", "latency_ms", "service_ms"}
        assert set(op["latency_ms"]) == LATENCY_KEYS
        assert op["success_rate"] == 1.0
    assert "Operations:" in format_summary(report)


def test_cli_kv_memstore_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.json"
    argv = [
        "kv",
        "--plugin",
        "memstore",
        "--rate",
        "50",
        "--duration",
        "1s",
        "--keys",
        "100",
        "--json",
        str(out),
    ]
    assert main(argv) == 0
    report = json.loads(out.read_text())
    assert report["command"] == ["prism-loadtest", *argv]
    assert report["achieved"]["completed"] == report["target"]["ops"] == 50
    assert report["errors"] == {}
    assert report["custom"]["get_misses"] == 0
    stdout, stderr = capsys.readouterr()
    assert "Get Operations:" in stdout and "Success Rate:     100.00%" in stdout
    assert "JSON report" in stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["kv", "--profile", "spike", "--duration", "2s", "--spike-at", "3s"],
        ["kv", "--duration", "soon"],
        ["kv", "--concurrency", "0"],
        ["kv", "--rate", "10"],  # --plugin is required (no default plugin)
    ],
)
def test_cli_rejects_bad_arguments(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2

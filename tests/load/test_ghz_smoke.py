"""Load smoke with ghz against a real `prism up`: the memo's integration example, and the suites.

The example command is run exactly as the memo gives it (server reflection, no ``--proto``),
plus ``--format json`` so the result can be checked: every request must answer OK. ghz comes
from ``tools/ghz.sh install`` (pinned version); if it cannot be installed the test fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from proxy.gateway import Gateway
from services.servers import RedisServer, shared_redis, tools_dir

SUITES_DIR = Path(__file__).resolve().parent / "ghz"
pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def ghz() -> str:
    """Path of the pinned ghz; building it is allowed to take minutes, failing is an error."""
    proc = subprocess.run(
        ["bash", str(tools_dir() / "ghz.sh"), "install"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, f"tools/ghz.sh install failed:\n{proc.stderr[-3000:]}"
    path = proc.stdout.strip().splitlines()[-1]
    assert os.access(path, os.X_OK), path
    return path


@pytest.fixture(scope="module")
def default_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """`prism up` with no config: namespace ``default`` on MemStore."""
    gw = Gateway(None, tmp_path_factory.mktemp("ghz-gateway")).start()
    try:
        yield gw
    finally:
        gw.stop()


def _summary(report: dict[str, Any]) -> str:
    lat = {d["percentage"]: d["latency"] / 1e6 for d in report["latencyDistribution"] or []}
    return (
        f"count={report['count']} rps={report['rps']:.1f} avg={report['average'] / 1e6:.2f}ms "
        f"p50={lat.get(50, 0):.2f}ms p90={lat.get(90, 0):.2f}ms p99={lat.get(99, 0):.2f}ms "
        f"fastest={report['fastest'] / 1e6:.2f}ms slowest={report['slowest'] / 1e6:.2f}ms"
    )


MEMO_EXAMPLE = [
    "--insecure",
    "--call",
    "prism.KeyValueBasicInterface.Set",
    "--data",
    '{"namespace":"default","key":"test-{{.RequestNumber}}","value":"dGVzdA=="}',
    "--rps",
    "100",
    "--duration",
    "5s",
]
# ghz's default --duration-stop=close closes its own connections at the 5 s mark, so a request
# still in flight then is reported as Unavailable with one of these client-side messages (about
# one run in six here). They never reached a verdict from the server; nothing else is tolerated.
GHZ_STOP_ARTIFACTS = ("use of closed network connection", "the client connection is closing")


def _run_ghz(ghz: str, args: list[str], addr: str) -> dict[str, Any]:
    cmd = [ghz, *args, "--format", "json", addr]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, f"ghz failed ({proc.returncode}): {proc.stdout}{proc.stderr}"
    report: dict[str, Any] = json.loads(proc.stdout)
    return report


def test_memo_example_all_ok(ghz: str, default_gateway: Gateway) -> None:
    """The memo's command, exactly (plus --format json): every request the server answered is OK."""
    report = _run_ghz(ghz, MEMO_EXAMPLE, default_gateway.addr)
    print(f"\nghz memo example through the proxy: {_summary(report)}")
    codes = report["statusCodeDistribution"]
    errors: dict[str, int] = report.get("errorDistribution") or {}
    artifacts = sum(n for msg, n in errors.items() if any(a in msg for a in GHZ_STOP_ARTIFACTS))
    assert all(any(a in msg for a in GHZ_STOP_ARTIFACTS) for msg in errors), errors
    assert codes.get("OK", 0) + artifacts == report["count"], codes
    assert set(codes) <= {"OK", "Unavailable"} and artifacts <= 3, (codes, errors)
    # 100 rps for 5 s: about 500 (ghz's last tick may fall just outside the window).
    assert 450 <= report["count"] <= 505


def test_memo_example_waiting_for_in_flight_all_ok(ghz: str, default_gateway: Gateway) -> None:
    """The same with --duration-stop=wait (in-flight calls finish): strictly every call is OK."""
    report = _run_ghz(ghz, [*MEMO_EXAMPLE, "--duration-stop", "wait"], default_gateway.addr)
    print(f"\nghz memo example (--duration-stop wait): {_summary(report)}")
    assert report["statusCodeDistribution"] == {"OK": report["count"]}, report.get(
        "errorDistribution"
    )
    assert not report.get("errorDistribution")
    assert 450 <= report["count"] <= 505


@pytest.fixture(scope="module")
def redis_srv() -> Iterator[RedisServer]:
    with shared_redis() as server:
        yield server


def test_suites_run_sh(ghz: str, redis_srv: RedisServer, tmp_path: Path) -> None:
    """tests/load/ghz/run.sh runs every suite against the suites' config (events on Redis)."""
    config = (SUITES_DIR / "prism.yaml").read_text().replace("127.0.0.1:6379", redis_srv.addr)
    gw = Gateway(config, tmp_path).start()
    reports = tmp_path / "reports"
    env = dict(
        os.environ,
        PRISM_GHZ_REPORTS=str(reports),
        PRISM_GHZ_DURATION="2s",
        PRISM_TOOLS_DIR=str(tools_dir()),
        PRISM_PYTHON=sys.executable,
    )
    try:
        proc = subprocess.run(
            ["bash", str(SUITES_DIR / "run.sh"), "--addr", gw.addr],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
            check=False,
        )
    finally:
        gw.stop()
    print(proc.stdout)
    assert proc.returncode == 0, f"run.sh failed:\n{proc.stdout}\n{proc.stderr[-3000:]}"
    suites = ("kv_set", "kv_get", "pubsub_publish")
    for suite in (*suites, "registry_register", "registry_enumerate", "registry_multicast"):
        report = json.loads((reports / f"{suite}.json").read_text())
        assert report["count"] > 0
        assert report["statusCodeDistribution"] == {"OK": report["count"]}, suite

"""A plugin's ghz suites through a real `prism up`, shared by every plugin's test folder.

A plugin's test folder holds ``ghz/prism.yaml`` (the gateway config: namespaces on the plugin)
and ``ghz/suites`` (the suites of tests/load/ghz/ its interfaces answer). That folder is all it
takes: ``tests/load/ghz/run.sh --plugin <name>`` finds it, and so does its
``test_<name>_ghz.py``, which calls :func:`run_plugin_suites`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from load.ghz_report import failures

from proxy.gateway import Gateway
from services.servers import tools_dir

__all__ = ["SUITES_DIR", "ghz_path", "plugin_suites", "run_plugin_suites", "run_suites"]

SUITES_DIR = Path(__file__).resolve().parent / "ghz"


def ghz_path() -> str:
    """The pinned ghz (tools/ghz.sh install; its first build takes minutes, failing is an error)."""
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


def plugin_suites(ghz_dir: Path) -> list[str]:
    """The suite names a plugin's ``ghz/suites`` lists (whitespace-separated, # comments)."""
    text = (ghz_dir / "suites").read_text()
    names = [w for line in text.splitlines() for w in line.split("#", 1)[0].split()]
    missing = [n for n in names if not (SUITES_DIR / f"{n}.json").is_file()]
    assert names and not missing, f"{ghz_dir / 'suites'}: no suite(s) {missing or names}"
    return names


def run_suites(
    args: Sequence[str], suites: Sequence[str], reports: Path, duration: str = "1s"
) -> dict[str, dict[str, Any]]:
    """``run.sh ARGS`` (each suite for ``duration``): it and every call of ``suites`` succeed,
    each with its JSON, CSV and HTML report and a p50/p95/p99 line; returns the ghz reports."""
    env = dict(
        os.environ,
        PRISM_GHZ_REPORTS=str(reports),
        PRISM_GHZ_DURATION=duration,
        PRISM_TOOLS_DIR=str(tools_dir()),
        PRISM_PYTHON=sys.executable,
    )
    proc = subprocess.run(
        ["bash", str(SUITES_DIR / "run.sh"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    print(proc.stdout)
    assert proc.returncode == 0, f"run.sh failed:\n{proc.stdout}\n{proc.stderr[-3000:]}"
    found: dict[str, dict[str, Any]] = {}
    for suite in suites:
        report = json.loads((reports / f"{suite}.json").read_text())
        assert report["count"] > 0, suite
        assert not failures(report), (suite, failures(report))
        assert f"prism {suite}" == report["name"]
        rows = (reports / f"{suite}.csv").read_text().strip().splitlines()
        assert rows[0] == "duration (ms),status,error" and len(rows) == report["count"] + 1, suite
        assert "<html>" in (reports / f"{suite}.html").read_text(), suite
        line = next(line for line in proc.stdout.splitlines() if line.startswith(f"{suite} "))
        assert re.search(r"p50=\S+ p95=\S+ p99=", line), line
        found[suite] = report
    return found


def run_plugin_suites(
    ghz_dir: Path, workdir: Path, config: str | None = None
) -> dict[str, dict[str, Any]]:
    """`prism up --config <ghz_dir>/prism.yaml`, then ``run.sh --plugin <ghz_dir>``: every
    suite its ``suites`` lists succeeds (:func:`run_suites`). ``config`` replaces the file's
    text (e.g. with a test server's address)."""
    ghz_path()
    suites = plugin_suites(ghz_dir)
    text = config if config is not None else (ghz_dir / "prism.yaml").read_text()
    gateway = Gateway(text, workdir).start(timeout=120.0)
    try:
        args = ["--addr", gateway.addr, "--plugin", str(ghz_dir)]
        return run_suites(args, suites, workdir / "reports")
    finally:
        gateway.stop()

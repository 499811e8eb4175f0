"""MEMO-013 Appendix B's pattern-level command, verbatim, from the repo root.

``./prism-loadtest register -r 100 -d 60s --redis-addr localhost:6379`` runs as a new user
would run it: the launcher builds the PEX with Pants and runs it, against a real Redis that
this test starts on port 6379 (it fails, saying so, if 6379 is taken). The repo root comes
from PRISM_BUILDROOT (pants.toml passes it to tests). PANTS_CONCURRENT lets the launcher's
Pants run beside the `pants test` that runs this test (else it waits for it: a deadlock).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from loadtest.appendix_b import appendix_b_block
from services.servers import redis_server, repo_root

MEMO_COMMAND = "./prism-loadtest register -r 100 -d 60s --redis-addr localhost:6379"


def _buildroot() -> Path:
    root = os.environ.get("PRISM_BUILDROOT")
    found = Path(root) if root else repo_root()
    assert found is not None and (found / "prism-loadtest").is_file(), (
        "no repo root: run through Pants (pants.toml sets PRISM_BUILDROOT) or set it"
    )
    return found


@pytest.mark.timeout(1200)
def test_memo_register_command_verbatim() -> None:
    root = _buildroot()
    with redis_server(port=6379):
        proc = subprocess.run(
            shlex.split(MEMO_COMMAND),
            cwd=root,
            env={**os.environ, "PANTS_CONCURRENT": "True"},
            capture_output=True,
            text=True,
            timeout=1100,
            check=False,
        )
    assert proc.returncode == 0, f"{MEMO_COMMAND}\n{proc.stdout}\n{proc.stderr[-4000:]}"
    block = appendix_b_block(proc.stdout, "register")
    total = int(block[1].split()[-1])
    success = float(re.sub("%$", "", block[2].split()[-1]))
    assert total == 6000  # 100/s for 60 s, open loop: nothing missed
    assert success >= 99.9
    assert re.search(r"ops/s \(target +\d", proc.stderr)  # progress while running

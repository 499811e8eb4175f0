"""A real gateway for tests: ``python -m prism.cli up`` in a subprocess on a free port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

LISTENING = "prism proxy listening on "


class Gateway:
    """Start with :meth:`start`, stop with :meth:`stop`; ``addr`` is host:port.

    stderr (proxy and plugin logs) goes to ``log_path`` so tests can look for request ids.
    """

    def __init__(self, config_text: str | None, workdir: Path) -> None:
        self.workdir = workdir
        self.config_path: Path | None = None
        if config_text is not None:
            self.config_path = workdir / "prism.yaml"
            self.config_path.write_text(config_text)
        self.log_path = workdir / "gateway.log"
        self.proc: subprocess.Popen[str] | None = None
        self.addr = ""

    def start(self, timeout: float = 60.0, port: int = 0) -> Gateway:
        cmd = [sys.executable, "-m", "prism.cli", "up", "--port", str(port)]
        if self.config_path is not None:
            cmd += ["--config", str(self.config_path)]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        log = open(self.log_path, "w")  # noqa: SIM115 (closed with the process)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
        log.close()
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"gateway exited: {self.log_path.read_text()[-2000:]}")
            if line.startswith(LISTENING):
                self.addr = line[len(LISTENING) :].strip()
                return self
        raise RuntimeError("gateway did not start in time")

    def log_text(self) -> str:
        return self.log_path.read_text()

    def stop(self, timeout: float = 20.0) -> int:
        proc = self.proc
        if proc is None:
            return 0
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        self.proc = None
        return code

"""Real NATS servers for tests, started through tools/nats.sh (Debian's nats-server).

``with nats_server() as n:`` starts one of our own (``n.url``, ``n.stop()``, ``n.start()``
brings it back on the same port); ``shared_nats()`` reuses ``PRISM_TEST_NATS_URL`` when set.
A server that cannot be installed or started raises ``ServerError`` (never a skip).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from services.servers import (
    START_TIMEOUT_S,
    STOP_TIMEOUT_S,
    ServerError,
    _last_line,
    _run,
    _server_dir,
)

__all__ = ["NatsServer", "nats_server", "shared_nats"]

INSTALL_TIMEOUT_S = 600.0


@dataclass
class NatsServer:
    host: str
    port: int
    dir: Path | None = None
    running: bool = True

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def _own(self, what: str) -> Path:
        if self.dir is None:
            raise ServerError(f"cannot {what} the shared external NATS at {self.url}")
        return self.dir

    def pid(self) -> int:
        return int((self._own("signal") / "nats.pid").read_text().strip())

    def stop(self) -> None:
        _run("nats.sh", "stop", str(self._own("stop")), timeout=STOP_TIMEOUT_S)
        self.running = False

    def start(self) -> None:
        _run("nats.sh", "start", str(self._own("start")), timeout=START_TIMEOUT_S)
        self.running = True


@contextmanager
def nats_server() -> Iterator[NatsServer]:
    _run("nats.sh", "install", timeout=INSTALL_TIMEOUT_S)
    with _server_dir("nats.sh", "prism-nats-") as d:
        port = int(_last_line(_run("nats.sh", "start", str(d), timeout=START_TIMEOUT_S), "port"))
        yield NatsServer(host="127.0.0.1", port=port, dir=d)


@contextmanager
def shared_nats() -> Iterator[NatsServer]:
    url = os.environ.get("PRISM_TEST_NATS_URL")
    if url:
        host, _, port = url.removeprefix("nats://").rpartition(":")
        yield NatsServer(host=host, port=int(port))
        return
    with nats_server() as server:
        yield server

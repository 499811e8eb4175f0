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
from typing import ClassVar

from services.servers import StartedServer, _run, _server_dir, _start_in, host_port

__all__ = ["NatsServer", "nats_server", "shared_nats"]

INSTALL_TIMEOUT_S = 600.0


@dataclass
class NatsServer(StartedServer):
    """A nats-server with JetStream."""

    script: ClassVar[str] = "nats.sh"
    kind: ClassVar[str] = "NATS"

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def pid(self) -> int:
        return int((self._own("signal") / "nats.pid").read_text().strip())


@contextmanager
def nats_server() -> Iterator[NatsServer]:
    _run("nats.sh", "install", timeout=INSTALL_TIMEOUT_S)
    with _server_dir("nats.sh", "prism-nats-") as d:
        yield NatsServer(host="127.0.0.1", port=_start_in("nats.sh", d), dir=d)


@contextmanager
def shared_nats() -> Iterator[NatsServer]:
    url = os.environ.get("PRISM_TEST_NATS_URL")
    if url:
        host, port = host_port(url, "PRISM_TEST_NATS_URL")
        yield NatsServer(host=host, port=port)
        return
    with nats_server() as server:
        yield server

"""Real Cassandra nodes for tests, started through tools/cassandra.sh (Maven Central jars).

``with cassandra_node() as c:`` starts one of our own (``c.host``, ``c.port``, ``c.stop()``,
``c.start()`` brings it back on the same port with its data); ``shared_cassandra()`` reuses
``PRISM_TEST_CASSANDRA_ADDR`` (``host:port``) when set. A node that cannot be installed or
started raises ``ServerError`` (never a skip).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from services.servers import (
    INSTALL_TIMEOUT_S,
    START_TIMEOUT_S,
    STOP_TIMEOUT_S,
    ServerError,
    _last_line,
    _run,
    _server_dir,
)

__all__ = ["CassandraNode", "cassandra_node", "shared_cassandra"]


@dataclass
class CassandraNode:
    host: str
    port: int
    dir: Path | None = None
    running: bool = True

    @property
    def addr(self) -> str:
        return f"{self.host}:{self.port}"

    def _own(self, what: str) -> Path:
        if self.dir is None:
            raise ServerError(f"cannot {what} the shared external Cassandra at {self.addr}")
        return self.dir

    def stop(self) -> None:
        """SIGTERM (Cassandra drains, flushing memtables); SIGKILL after 60 s. Idempotent."""
        _run("cassandra.sh", "stop", str(self._own("stop")), timeout=STOP_TIMEOUT_S)
        self.running = False

    def start(self) -> None:
        """Start the stopped node again: same port, same data."""
        d = self._own("start")
        if self.running:
            return
        addr = _last_line(_run("cassandra.sh", "start", str(d), timeout=START_TIMEOUT_S), "address")
        if addr != self.addr:
            raise ServerError(f"cassandra came back on {addr}, expected {self.addr}")
        self.running = True

    def restart(self) -> None:
        self.stop()
        self.start()


def _parse_addr(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    if not host or not port.isdigit():
        raise ServerError(f"bad Cassandra address {addr!r}: want host:port")
    return host, int(port)


@contextmanager
def cassandra_node() -> Iterator[CassandraNode]:
    """A single Cassandra 5.0 node of our own on free ports (about 20-40 s to start)."""
    _run("cassandra.sh", "install", timeout=INSTALL_TIMEOUT_S)
    with _server_dir("cassandra.sh", "prism-cassandra-") as d:
        addr = _last_line(_run("cassandra.sh", "start", str(d), timeout=START_TIMEOUT_S), "address")
        host, port = _parse_addr(addr)
        yield CassandraNode(host=host, port=port, dir=d)


@contextmanager
def shared_cassandra() -> Iterator[CassandraNode]:
    addr = os.environ.get("PRISM_TEST_CASSANDRA_ADDR")
    if addr:
        host, port = _parse_addr(addr)
        yield CassandraNode(host=host, port=port)
        return
    with cassandra_node() as node:
        yield node

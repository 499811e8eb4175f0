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
from typing import ClassVar

from services.servers import (
    INSTALL_TIMEOUT_S,
    StartedServer,
    _run,
    _server_dir,
    _start_in,
    host_port,
)

__all__ = ["CassandraNode", "cassandra_node", "shared_cassandra"]


@dataclass
class CassandraNode(StartedServer):
    """A Cassandra 5.0 node (its stop: SIGTERM, Cassandra drains, flushing memtables)."""

    script: ClassVar[str] = "cassandra.sh"
    kind: ClassVar[str] = "Cassandra"


@contextmanager
def cassandra_node() -> Iterator[CassandraNode]:
    """A single Cassandra 5.0 node of our own on free ports (about 20-40 s to start)."""
    _run("cassandra.sh", "install", timeout=INSTALL_TIMEOUT_S)
    with _server_dir("cassandra.sh", "prism-cassandra-") as d:
        yield CassandraNode(host="127.0.0.1", port=_start_in("cassandra.sh", d), dir=d)


@contextmanager
def shared_cassandra() -> Iterator[CassandraNode]:
    addr = os.environ.get("PRISM_TEST_CASSANDRA_ADDR")
    if addr:
        host, port = host_port(addr, "PRISM_TEST_CASSANDRA_ADDR")
        yield CassandraNode(host=host, port=port)
        return
    with cassandra_node() as node:
        yield node

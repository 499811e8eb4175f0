"""Real Cassandra nodes for tests, started through tools/cassandra.sh (Maven Central jars).

``with cassandra_node() as c:`` starts one of our own (``c.host``, ``c.port``, ``c.stop()``,
``c.start()`` brings it back on the same port with its data); ``shared_cassandra()`` reuses
``PRISM_TEST_CASSANDRA_ADDR`` (``host:port``) when set. A node that cannot be installed or
started raises ``ServerError`` (never a skip).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ClassVar

from services.servers import StartedServer

__all__ = ["CassandraNode", "cassandra_node", "shared_cassandra"]


@dataclass
class CassandraNode(StartedServer):
    """A Cassandra 5.0 node (its stop: SIGTERM, Cassandra drains, flushing memtables)."""

    script: ClassVar[str] = "cassandra.sh"
    kind: ClassVar[str] = "Cassandra"


@contextmanager
def cassandra_node() -> Iterator[CassandraNode]:
    """A single Cassandra 5.0 node of our own on free ports (about 20-40 s to start)."""
    with CassandraNode.own() as node:
        yield node


@contextmanager
def shared_cassandra() -> Iterator[CassandraNode]:
    with CassandraNode.shared("PRISM_TEST_CASSANDRA_ADDR") as node:
        yield node

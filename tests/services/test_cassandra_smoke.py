"""The test Cassandra really works: it answers CQL, and a written row survives a restart."""

from __future__ import annotations

import pytest
from cassandra import ConsistencyLevel
from cassandra.cluster import Cluster, NoHostAvailable, Session
from cassandra.policies import RoundRobinPolicy
from cassandra.query import SimpleStatement

from services.cassandra_servers import CassandraNode, cassandra_node


def _connect(node: CassandraNode) -> tuple[Cluster, Session]:
    cluster = Cluster(
        [node.host],
        port=node.port,
        protocol_version=5,
        load_balancing_policy=RoundRobinPolicy(),
        connect_timeout=5,
    )
    return cluster, cluster.connect()


def test_cql_row_survives_restart() -> None:
    with cassandra_node() as node:
        assert node.host == "127.0.0.1"
        cluster, session = _connect(node)
        try:
            version = session.execute("SELECT release_version FROM system.local").one()
            assert version is not None and version.release_version.startswith("5.0.")
            session.execute(
                "CREATE KEYSPACE smoke WITH replication = "
                "{'class': 'SimpleStrategy', 'replication_factor': 1}"
            )
            session.execute("CREATE TABLE smoke.kv (k text PRIMARY KEY, v blob)")
            session.execute(
                SimpleStatement(
                    "INSERT INTO smoke.kv (k, v) VALUES (%s, %s)",
                    consistency_level=ConsistencyLevel.ONE,
                ),
                ("kept", b"\x00value"),
            )
        finally:
            cluster.shutdown()
        port = node.port

        node.stop()
        with pytest.raises(NoHostAvailable):
            _connect(node)

        node.start()
        assert node.port == port
        cluster, session = _connect(node)
        try:
            row = session.execute("SELECT v FROM smoke.kv WHERE k = %s", ("kept",)).one()
            assert row is not None and row.v == b"\x00value"
        finally:
            cluster.shutdown()
    # The context manager stopped it.
    with pytest.raises(NoHostAvailable):
        _connect(CassandraNode(host="127.0.0.1", port=port))

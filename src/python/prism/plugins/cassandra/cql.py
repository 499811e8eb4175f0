"""The table design, its schema and its prepared statements.

``<keyspace>.kv``: ``PRIMARY KEY ((ns, bucket), key)``, keys ascending within a partition.
A namespace is spread over ``buckets`` partitions (``bucket = crc32(key) mod buckets``), so
no partition holds a whole namespace; a key's row is found in one partition. Text clustering
columns sort by their UTF-8 bytes, the order Scan promises, so a Scan reads every bucket of the
namespace in key order and merges them. ``tags`` is a frozen map (one cell: overwriting it
leaves no collection tombstone). ``expires_at`` (ms since the epoch, 0 = never) makes expiry
exact to the millisecond on top of the native TTL, which counts whole seconds and removes the
row from Cassandra itself. Limits: docs/plugins.md (Cassandra).
"""

from __future__ import annotations

import math
import time
import zlib
from dataclasses import dataclass

from cassandra.cluster import Session
from cassandra.query import PreparedStatement

__all__ = [
    "Statements",
    "bucket_of",
    "expiry",
    "is_live",
    "now_ms",
    "prefix_end",
    "prepare",
    "schema",
]

_MAX_CODE_POINT = "\U0010ffff"


def schema(keyspace: str, replication_factor: int) -> list[str]:
    """CQL that creates the keyspace and table when missing (idempotent)."""
    return [
        f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = "
        f"{{'class': 'SimpleStrategy', 'replication_factor': {replication_factor}}}",
        f"CREATE TABLE IF NOT EXISTS {keyspace}.kv (ns text, bucket int, key text, value blob, "
        "tags frozen<map<text, text>>, expires_at bigint, PRIMARY KEY ((ns, bucket), key)) "
        "WITH CLUSTERING ORDER BY (key ASC)",
    ]


@dataclass(frozen=True)
class Statements:
    """Every statement the store runs, prepared once per session."""

    read: PreparedStatement  # value, tags, expires_at, written (the value's write time, us)
    probe: PreparedStatement  # expires_at only
    write: PreparedStatement  # the whole row, USING TTL (0 = none)
    rewrite: PreparedStatement  # the whole row, USING TTL and TIMESTAMP
    delete: PreparedStatement
    # (values wanted, lower bound inclusive, upper bound given) -> one bucket's page
    scans: dict[tuple[bool, bool, bool], PreparedStatement]


def prepare(session: Session, keyspace: str) -> Statements:
    """Prepare the statements (blocking: called from the thread that opens the session)."""
    table, where = f"{keyspace}.kv", "WHERE ns = ? AND bucket = ? AND key = ?"
    columns = "(ns, bucket, key, value, tags, expires_at) VALUES (?, ?, ?, ?, ?, ?)"
    scans = {}
    for values in (True, False):
        for inclusive in (True, False):
            for bounded in (True, False):
                cql = (
                    f"SELECT key, expires_at{', value' if values else ''} FROM {table} "
                    f"WHERE ns = ? AND bucket = ? AND key {'>=' if inclusive else '>'} ?"
                    f"{' AND key < ?' if bounded else ''} LIMIT ?"
                )
                scans[values, inclusive, bounded] = session.prepare(cql)
    return Statements(
        read=session.prepare(
            f"SELECT value, tags, expires_at, WRITETIME(value) AS written FROM {table} {where}"
        ),
        probe=session.prepare(f"SELECT expires_at FROM {table} {where}"),
        write=session.prepare(f"INSERT INTO {table} {columns} USING TTL ?"),
        rewrite=session.prepare(f"INSERT INTO {table} {columns} USING TTL ? AND TIMESTAMP ?"),
        delete=session.prepare(f"DELETE FROM {table} {where}"),
        scans=scans,
    )


def bucket_of(key: str, buckets: int) -> int:
    """The key's bucket: stable across processes and versions (crc32, not ``hash``)."""
    return zlib.crc32(key.encode()) % buckets


def now_ms() -> int:
    return int(time.time() * 1000)


def expiry(ttl_seconds: float | None) -> tuple[int, int]:
    """(expires_at, native TTL) for a Set: the native TTL (whole seconds, counted from the
    write's second on the node) is rounded up by a second more so the row outlives
    ``expires_at``, which decides visibility."""
    if ttl_seconds is None:
        return 0, 0
    return now_ms() + math.ceil(ttl_seconds * 1000), math.ceil(ttl_seconds) + 1


def is_live(expires_at: int | None) -> bool:
    return not expires_at or expires_at > now_ms()


def prefix_end(prefix: str) -> str | None:
    """The least string above every string starting with ``prefix`` (code point order, the
    same as UTF-8 byte order); None when there is none (empty or all U+10FFFF)."""
    stem = prefix.rstrip(_MAX_CODE_POINT)
    if not stem:
        return None
    last = ord(stem[-1]) + 1
    if last == 0xD800:  # surrogates are not text: the next code point is U+E000
        last = 0xE000
    return stem[:-1] + chr(last)

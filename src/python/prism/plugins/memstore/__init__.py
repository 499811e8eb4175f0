"""MemStore: the embedded default plugin. Keys live in process memory; no server needed.

Serves KeyValueBasic, KeyValueTTL and KeyValueScan. Expiry runs through ``prism.sdk.ttl`` (no
timer per key); scans walk a sorted index per namespace (sortedcontainers), so paging by
cursor is O(log n) to resume. Bounded by ``PRISM_MEMSTORE_MAX_KEYS`` and
``PRISM_MEMSTORE_MAX_BYTES``: a write past either is RESOURCE_EXHAUSTED, never an eviction.
"""

from prism.plugins.memstore.plugin import MemStorePlugin, MemStoreSettings
from prism.plugins.memstore.store import MemStore

__all__ = ["MemStore", "MemStorePlugin", "MemStoreSettings"]

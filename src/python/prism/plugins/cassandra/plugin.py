"""The cassandra plugin: the backend and the pattern object built from the settings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from prism.plugins.cassandra.backend import (
    CLASSIFIERS,
    CassandraBackend,
    CassandraStore,
)
from prism.plugins.cassandra.settings import CassandraSettings
from prism.sdk.errors import Classifier
from prism.sdk.patterns import keyvalue_bindings
from prism.sdk.plugin import Built, Plugin
from prism.sdk.server import ServiceBinding


class CassandraPlugin(Plugin[CassandraSettings]):
    name: ClassVar[str] = "cassandra"
    version: ClassVar[str] = "0.1.0"
    # Built in initialize(); reading one earlier is a clear FAILED_PRECONDITION. The backend is
    # a GuardedPool, so the SDK registers its health checks ("cassandra" pings a pooled
    # connection, critical; "pool" is DEGRADED above 90% busy), starts it and closes it.
    backend = Built[CassandraBackend]()
    store = Built[CassandraStore]()

    def kv_store(self) -> CassandraStore:
        # What prism-loadtest kv drives in process (the same object the servicers serve).
        return self.store

    def servicers(self) -> Sequence[ServiceBinding]:
        # Basic always; Scan because the store class has scan() and count(). Validation,
        # NOT_FOUND, cursors and status codes are the SDK's (prism.sdk.patterns).
        return keyvalue_bindings(CassandraStore, lambda: self.store)

    def classifiers(self) -> Sequence[Classifier]:
        return CLASSIFIERS

    async def initialize(self) -> None:
        # Runs once, with the final settings (Initialize overrides applied).
        self.backend = CassandraBackend(self.settings)
        self.store = CassandraStore(self.backend)

"""The cassandra plugin: lifecycle (backend, health checks) and the contract bindings."""

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
from prism.sdk.plugin import Plugin
from prism.sdk.server import ServiceBinding


class CassandraPlugin(Plugin[CassandraSettings]):
    name: ClassVar[str] = "cassandra"
    version: ClassVar[str] = "0.1.0"
    settings_class: ClassVar[type[CassandraSettings]] = CassandraSettings

    def __init__(self, settings: CassandraSettings) -> None:
        super().__init__(settings)
        self.backend = CassandraBackend(settings)
        self.store = CassandraStore(self.backend)

    def kv_store(self) -> CassandraStore:
        # What prism-loadtest kv drives in process (the same object the servicers serve).
        return self.store

    def servicers(self) -> Sequence[ServiceBinding]:
        # Basic always; Scan because the store has scan() and count(). Validation, NOT_FOUND,
        # cursors and status codes are the SDK's (prism.sdk.patterns).
        return keyvalue_bindings(self.store)

    def classifiers(self) -> Sequence[Classifier]:
        return CLASSIFIERS

    async def initialize(self) -> None:
        # Settings may have been replaced by Initialize overrides: build the backend now.
        self.backend = CassandraBackend(self.settings)
        self.store.backend = self.backend
        # "cassandra" pings a pooled connection (critical: UNHEALTHY when the backend is down or
        # the breaker is open); "pool" is DEGRADED above 90% busy.
        self.backend.register_health(self.health)
        await self.backend.start()

    async def stop(self) -> None:
        await self.backend.close(timeout=float(self.settings.drain_timeout))

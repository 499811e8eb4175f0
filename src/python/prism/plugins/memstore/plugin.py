"""MemStore as a Prism plugin: settings, health, and the contract bindings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from prism.plugins.memstore.store import MemStore
from prism.sdk.config import PluginSettings, SettingsConfigDict
from prism.sdk.health import CheckOutcome, HealthStatus
from prism.sdk.patterns import keyvalue_bindings
from prism.sdk.plugin import Plugin
from prism.sdk.server import ServiceBinding


class MemStoreSettings(PluginSettings):
    model_config = SettingsConfigDict(env_prefix="PRISM_MEMSTORE_")

    max_keys: int = 1_000_000
    max_bytes: int = 1 << 30


class MemStorePlugin(Plugin[MemStoreSettings]):
    name: ClassVar[str] = "memstore"
    version: ClassVar[str] = "0.1.0"
    settings_class: ClassVar[type[MemStoreSettings]] = MemStoreSettings

    def __init__(self, settings: MemStoreSettings) -> None:
        super().__init__(settings)
        self.store = MemStore(max_keys=settings.max_keys, max_bytes=settings.max_bytes)

    def kv_store(self) -> MemStore:
        return self.store

    def servicers(self) -> Sequence[ServiceBinding]:
        return keyvalue_bindings(self.store)

    async def initialize(self) -> None:
        self.store.max_keys = self.settings.max_keys
        self.store.max_bytes = self.settings.max_bytes
        self.health.register("capacity", self._capacity, critical=False)

    async def start(self) -> None:
        await self.store.ttl.start()

    async def stop(self) -> None:
        await self.store.ttl.stop()

    async def _capacity(self) -> CheckOutcome | None:
        used = max(
            len(self.store) / self.store.max_keys, self.store.used_bytes / self.store.max_bytes
        )
        if used > 0.9:
            return CheckOutcome(HealthStatus.DEGRADED, f"memstore {used:.0%} full")
        return None

"""MemStore as a Prism plugin: settings, and the store built from them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from prism.plugins.memstore.store import MemStore
from prism.sdk.config import PluginSettings, SettingsConfigDict
from prism.sdk.patterns import keyvalue_bindings
from prism.sdk.plugin import Built, Plugin
from prism.sdk.server import ServiceBinding


class MemStoreSettings(PluginSettings):
    model_config = SettingsConfigDict(env_prefix="PRISM_MEMSTORE_")

    max_keys: int = 1_000_000
    max_bytes: int = 1 << 30


class MemStorePlugin(Plugin[MemStoreSettings]):
    name: ClassVar[str] = "memstore"
    version: ClassVar[str] = "0.1.0"
    store = Built[MemStore]()

    def kv_store(self) -> MemStore:
        return self.store

    def servicers(self) -> Sequence[ServiceBinding]:
        return keyvalue_bindings(MemStore, lambda: self.store)

    async def initialize(self) -> None:
        self.store = MemStore(max_keys=self.settings.max_keys, max_bytes=self.settings.max_bytes)

"""The Redis plugin: lifecycle (backend, health checks) and the contract bindings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from prism.plugins.redis.broker import RedisBroker
from prism.plugins.redis.connection import CLASSIFIERS, Backend
from prism.plugins.redis.settings import RedisSettings
from prism.plugins.redis.store import RedisStore
from prism.sdk.errors import Classifier
from prism.sdk.patterns import keyvalue_bindings, pubsub_binding
from prism.sdk.plugin import Plugin
from prism.sdk.server import ServiceBinding


class RedisPlugin(Plugin[RedisSettings]):
    name: ClassVar[str] = "redis"
    version: ClassVar[str] = "0.1.0"
    settings_class: ClassVar[type[RedisSettings]] = RedisSettings

    def __init__(self, settings: RedisSettings) -> None:
        super().__init__(settings)
        self.backend = Backend(settings)
        self.store, self.broker = RedisStore(self.backend), RedisBroker(self.backend)

    def kv_store(self) -> RedisStore:
        return self.store

    def pubsub_broker(self) -> RedisBroker:
        return self.broker

    def servicers(self) -> Sequence[ServiceBinding]:
        return [*keyvalue_bindings(self.store), pubsub_binding(self.broker)]

    def classifiers(self) -> Sequence[Classifier]:
        return CLASSIFIERS

    async def initialize(self) -> None:
        if self.backend.settings is not self.settings:  # replaced by Initialize overrides
            self.backend = self.store.backend = self.broker.backend = Backend(self.settings)
        # "redis" pings (critical), "pool" is DEGRADED above 90% busy, breaker changes re-check.
        self.backend.register_health(self.health)
        await self.backend.start()

    async def stop(self) -> None:
        await self.backend.close(timeout=float(self.settings.drain_timeout))

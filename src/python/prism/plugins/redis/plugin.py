"""The Redis plugin: the backend and the pattern objects built from the settings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from prism.plugins.redis.broker import RedisBroker
from prism.plugins.redis.connection import CLASSIFIERS, Backend
from prism.plugins.redis.settings import RedisSettings
from prism.plugins.redis.store import RedisStore
from prism.sdk.errors import Classifier
from prism.sdk.patterns import keyvalue_bindings, pubsub_binding
from prism.sdk.plugin import Built, Plugin
from prism.sdk.server import ServiceBinding


class RedisPlugin(Plugin[RedisSettings]):
    name: ClassVar[str] = "redis"
    version: ClassVar[str] = "0.1.0"
    # The backend is a GuardedPool: "redis" pings (critical), "pool" is DEGRADED above 90%
    # busy, breaker changes re-check; the SDK starts and closes it.
    backend, store, broker = Built[Backend](), Built[RedisStore](), Built[RedisBroker]()

    def kv_store(self) -> RedisStore:
        return self.store

    def pubsub_broker(self) -> RedisBroker:
        return self.broker

    def servicers(self) -> Sequence[ServiceBinding]:
        return [
            *keyvalue_bindings(RedisStore, lambda: self.store),
            pubsub_binding(lambda: self.broker),
        ]

    def classifiers(self) -> Sequence[Classifier]:
        return CLASSIFIERS

    async def initialize(self) -> None:
        self.backend = Backend(self.settings)
        self.store, self.broker = RedisStore(self.backend), RedisBroker(self.backend)

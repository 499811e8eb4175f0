"""Build the coordinator and its slots from settings or plain addresses (no gRPC needed).

Why here: the plugin folder is the one place that may import every backend's slot
implementations; the load tester builds the same coordinator the plugin serves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prism.plugins.memstore.messaging import InProcessMessaging
from prism.plugins.memstore.registry import MemStoreRegistry
from prism.plugins.multicast.settings import MulticastSettings
from prism.plugins.nats import NatsBackend, NatsMessaging
from prism.plugins.redis.connection import Backend
from prism.plugins.redis.messaging import RedisMessaging
from prism.plugins.redis.registry import RedisRegistry
from prism.plugins.redis.settings import RedisSettings
from prism.sdk.backend import Resource
from prism.sdk.config import load_settings
from prism.sdk.health import HealthChecker
from prism.sdk.patterns import Coordinator, MessagingSlot, RegistrySlot

__all__ = ["Slots", "build_coordinator", "build_slots"]


@dataclass
class Slots(Resource):
    """A coordinator and what must be started, health-checked and closed with it."""

    coordinator: Coordinator
    redis: Backend | None = None
    memstore: MemStoreRegistry | None = None
    nats: NatsBackend | None = None

    def register_health(self, health: HealthChecker) -> None:
        if self.redis is not None:
            self.redis.register_health(health)
        if self.nats is not None:
            self.nats.register_health(health)

    async def start(self) -> None:
        if self.redis is not None:
            await self.redis.start()
        if self.memstore is not None:
            await self.memstore.start()
        if self.nats is not None:
            await self.nats.start()

    async def close(self, timeout: float | None = 5.0) -> None:
        if isinstance(self.coordinator.messaging, RedisMessaging):
            await self.coordinator.messaging.close()
        if self.nats is not None:
            await self.nats.close()
        if self.memstore is not None:
            await self.memstore.stop()
        if self.redis is not None:
            await self.redis.close(timeout=timeout)


def _redis_settings(settings: MulticastSettings) -> RedisSettings:
    knobs = ("pool_min_idle", "pool_max_open", "pool_acquire_timeout", "breaker_open_seconds")
    return load_settings(
        RedisSettings,
        environ={},
        overrides={
            "addr": settings.redis_addr,
            "db": settings.redis_db,
            "command_timeout": settings.redis_command_timeout,
            "connect_timeout": settings.redis_connect_timeout,
            **{k: getattr(settings, k) for k in knobs},
        },
    )


def build_slots(settings: MulticastSettings) -> Slots:
    """The slots ``settings`` pick, wired to one coordinator (not started yet)."""
    redis = Backend(_redis_settings(settings)) if settings.uses_redis() else None
    memstore = MemStoreRegistry() if settings.registry == "memstore" else None
    registry: RegistrySlot
    if memstore is not None:
        registry = memstore
    else:
        assert redis is not None
        registry = RedisRegistry(redis, settings.max_registrations)
    nats: NatsBackend | None = None
    messaging: MessagingSlot
    if settings.messaging == "redis":
        assert redis is not None
        messaging = RedisMessaging(redis)
    elif settings.messaging == "nats":
        servers = [s.strip() for s in settings.nats_servers.split(",") if s.strip()]
        nats = NatsBackend(servers, breaker_open_seconds=settings.breaker_open_seconds)
        messaging = NatsMessaging(nats, settings.nats_delivery_timeout)
    else:
        messaging = InProcessMessaging()
    return Slots(Coordinator(registry, messaging), redis=redis, memstore=memstore, nats=nats)


async def build_coordinator(
    registry: str = "memstore", messaging: str = "inprocess", **settings: Any
) -> Slots:
    """A started coordinator, e.g. ``await build_coordinator("redis", "nats",
    redis_addr="localhost:6379", nats_servers="nats://localhost:4222")``; use
    ``slots.coordinator``, then ``await slots.close()``."""
    built = build_slots(
        load_settings(
            MulticastSettings,
            environ={},
            overrides={"registry": registry, "messaging": messaging, **settings},
        )
    )
    await built.start()
    return built

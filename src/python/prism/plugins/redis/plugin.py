"""The Redis plugin: settings (PRISM_REDIS_*), health checks and the contract bindings."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import ClassVar

from pydantic import Field, SecretStr

from prism.plugins.redis.broker import RedisBroker
from prism.plugins.redis.connection import CLASSIFIERS, Backend
from prism.plugins.redis.store import RedisStore
from prism.sdk.config import Duration, PluginSettings, SettingsConfigDict
from prism.sdk.errors import Classifier, PoolExhaustedError
from prism.sdk.health import CheckOutcome, HealthReport, HealthStatus
from prism.sdk.patterns import keyvalue_bindings, pubsub_binding
from prism.sdk.plugin import Plugin
from prism.sdk.resilience import BreakerState
from prism.sdk.server import ServiceBinding


class RedisSettings(PluginSettings):
    model_config = SettingsConfigDict(env_prefix="PRISM_REDIS_")

    addr: str = Field(default="127.0.0.1:6379", pattern=r"^\S+:\d{1,5}$", description="host:port")
    db: int = Field(default=0, ge=0)
    password: SecretStr | None = None
    tls: bool = False
    tls_ca_file: str | None = None
    pool_min_idle: int = Field(default=1, ge=0)
    pool_max_open: int = Field(default=16, ge=1)
    pool_acquire_timeout: Duration = Field(default=1.0, description="Wait for a free connection.")
    connect_timeout: Duration = Field(default=0.5, gt=0)
    command_timeout: Duration = Field(default=1.0, gt=0, description="Read timeout per command.")
    breaker_open_seconds: Duration = Field(default=1.0, description="Open time before a probe.")
    subscribe_block: Duration = Field(default=2.0, gt=0, description="XREADGROUP BLOCK per read.")
    stream_max_len: int = Field(default=1_000_000, ge=1, description="Approximate cap per topic.")


class RedisPlugin(Plugin[RedisSettings]):
    name: ClassVar[str] = "redis"
    version: ClassVar[str] = "0.1.0"
    settings_class: ClassVar[type[RedisSettings]] = RedisSettings

    def __init__(self, settings: RedisSettings) -> None:
        super().__init__(settings)
        self.backend = Backend(settings)
        self.store, self.broker = RedisStore(self.backend), RedisBroker(self.backend)
        self._recheck: asyncio.Task[HealthReport] | None = None

    def servicers(self) -> Sequence[ServiceBinding]:
        return [*keyvalue_bindings(self.store), pubsub_binding(self.broker)]

    def classifiers(self) -> Sequence[Classifier]:
        return CLASSIFIERS

    async def initialize(self) -> None:
        # Settings may have been replaced by Initialize overrides: build the backend now.
        self.backend = self.store.backend = self.broker.backend = Backend(self.settings)
        self.backend.breaker.add_listener(self._on_breaker)
        self.health.register("redis", self._ping)
        self.health.register("pool", self._pool_load, critical=False)
        await self.backend.pool.start()

    async def stop(self) -> None:
        await self.backend.pool.close(timeout=float(self.settings.drain_timeout))

    def _on_breaker(self, name: str, old: BreakerState, new: BreakerState) -> None:
        if self.health.running:  # report an outage (or recovery) now, not at the next tick
            self._recheck = asyncio.create_task(self.health.run_checks())

    async def _ping(self) -> CheckOutcome | None:
        try:
            await self.backend.command("PING")
        except PoolExhaustedError as exc:  # Redis is busy serving us, not down
            return CheckOutcome(HealthStatus.DEGRADED, f"ping skipped: {exc.message}")
        return None

    async def _pool_load(self) -> CheckOutcome | None:
        busy = self.backend.pool.busy_fraction
        if busy > 0.9:
            return CheckOutcome(HealthStatus.DEGRADED, f"redis pool {busy:.0%} busy")
        return None

"""MulticastSettings: which slots serve the registry, from ``PRISM_MULTICAST_*`` or the proxy's
per-namespace ``settings`` (flat scalars)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from prism.sdk.backend import GuardedPoolSettings
from prism.sdk.config import Duration, PluginSettings, SettingsConfigDict

RegistryKind = Literal["memstore", "redis"]
MessagingKind = Literal["inprocess", "redis", "nats"]


class MulticastSettings(PluginSettings, GuardedPoolSettings):
    """PRISM_MULTICAST_*; the POOL_*/BREAKER_* knobs apply to the Redis connection pool."""

    model_config = SettingsConfigDict(env_prefix="PRISM_MULTICAST_")

    registry: RegistryKind = Field(default="memstore", description="Registry slot.")
    messaging: MessagingKind = Field(default="inprocess", description="Messaging slot.")
    redis_addr: str = Field(default="127.0.0.1:6379", pattern=r"^\S+:\d{1,5}$")
    redis_db: int = Field(default=0, ge=0)
    redis_command_timeout: Duration = Field(default=1.0, gt=0)
    redis_connect_timeout: Duration = Field(default=0.5, gt=0)
    nats_servers: str = Field(
        default="nats://127.0.0.1:4222", description="Comma-separated NATS server URLs."
    )
    nats_delivery_timeout: Duration = Field(
        default=1.0, gt=0, description="How long a NATS receiver has to confirm a delivery."
    )
    max_registrations: int = Field(
        default=10_000_000, ge=1, description="Per namespace (Redis registry)."
    )

    def uses_redis(self) -> bool:
        return self.registry == "redis" or self.messaging == "redis"

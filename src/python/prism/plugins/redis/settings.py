"""RedisSettings: the plugin's configuration, from ``PRISM_REDIS_*`` (see prism.sdk.config)."""

from __future__ import annotations

from pydantic import Field, SecretStr

from prism.sdk.backend import GuardedPoolSettings
from prism.sdk.config import Duration, PluginSettings, SettingsConfigDict


class RedisSettings(PluginSettings, GuardedPoolSettings):
    """PRISM_REDIS_*; the POOL_* and BREAKER_OPEN_SECONDS knobs come from GuardedPoolSettings."""

    model_config = SettingsConfigDict(env_prefix="PRISM_REDIS_")

    addr: str = Field(default="127.0.0.1:6379", pattern=r"^\S+:\d{1,5}$", description="host:port")
    db: int = Field(default=0, ge=0)
    password: SecretStr | None = None
    cluster: bool = Field(
        default=False, description="addr is one node of a Redis Cluster (the others are found)."
    )
    wait_replicas: int = Field(
        default=0, ge=0, description="A write returns OK only once this many replicas have it."
    )
    wait_timeout: Duration = Field(default=0.5, gt=0, description="WAIT's limit per write.")
    tls: bool = False
    tls_ca_file: str | None = None
    connect_timeout: Duration = Field(default=0.5, gt=0)
    command_timeout: Duration = Field(default=1.0, gt=0, description="Read timeout per command.")
    subscribe_block: Duration = Field(default=2.0, gt=0, description="XREADGROUP BLOCK per read.")
    stream_max_len: int = Field(default=1_000_000, ge=1, description="Approximate cap per topic.")
    subscriber_expiry: Duration = Field(
        default=7 * 24 * 3600.0,
        gt=0,
        description="A subscriber id (consumer group) with no live stream for this long is"
        " removed with its pending messages.",
    )

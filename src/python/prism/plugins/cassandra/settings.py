"""CassandraSettings: the plugin's configuration, from ``PRISM_CASSANDRA_*`` (prism.sdk.config)."""

from __future__ import annotations

from pydantic import Field

from prism.sdk.backend import GuardedPoolSettings
from prism.sdk.config import Duration, PluginSettings, SettingsConfigDict


class CassandraSettings(PluginSettings, GuardedPoolSettings):
    """``PRISM_CASSANDRA_*``; ``POOL_*`` and ``BREAKER_OPEN_SECONDS`` come from GuardedPoolSettings.

    Precedence: Initialize overrides > environment > YAML file (``PRISM_CASSANDRA_CONFIG_FILE``)
    > defaults. A bad value fails at startup with one message naming every bad variable.
    """

    model_config = SettingsConfigDict(env_prefix="PRISM_CASSANDRA_")

    # BACKEND CLIENT: your backend's settings go here (secrets as pydantic.SecretStr: never
    # logged). The in-memory stand-in only uses them in messages.
    addr: str = Field(default="memory", description="Where the backend listens (host:port).")
    connect_timeout: Duration = Field(default=1.0, gt=0, description="Opening one connection.")

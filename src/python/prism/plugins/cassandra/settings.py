"""CassandraSettings: the plugin's configuration, from ``PRISM_CASSANDRA_*`` (prism.sdk.config)."""

from __future__ import annotations

from typing import Literal

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
    # logged).
    addr: str = Field(
        default="127.0.0.1:9042",
        pattern=r"^\S+:\d{1,5}$",
        description="A contact point, host:port (the driver finds the other nodes).",
    )
    connect_timeout: Duration = Field(default=2.0, gt=0, description="Opening one connection.")
    open_timeout: Duration = Field(
        default=30.0, gt=0, description="Opening the session: connect, create schema, prepare."
    )
    request_timeout: Duration = Field(default=2.0, gt=0, description="One CQL request.")
    reconnect_delay: Duration = Field(
        default=1.0, gt=0, description="Between the driver's attempts to reach a down node."
    )
    keyspace: str = Field(default="prism", pattern=r"^[a-z][a-z0-9_]{0,47}$")
    replication_factor: int = Field(
        default=1, ge=1, description="Used only when the plugin creates the keyspace."
    )
    consistency: Literal[
        "ONE", "TWO", "THREE", "QUORUM", "ALL", "LOCAL_QUORUM", "EACH_QUORUM", "LOCAL_ONE"
    ] = Field(default="LOCAL_QUORUM", description="Of every read and write.")
    buckets: int = Field(
        default=16,
        ge=1,
        le=1024,
        description="Partitions per namespace; fixed once data is written (docs/plugins.md).",
    )
    # A pooled "connection" is a lease on the driver's one session (backend.py).
    pool_max_open: int = Field(default=256, ge=1, description="Most requests in flight at once.")

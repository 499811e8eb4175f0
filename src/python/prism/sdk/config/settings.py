"""PluginSettings: the fields every plugin shares; plugins subclass it with their own prefix."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from prism.sdk.config.duration import Duration

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class PluginSettings(BaseSettings):
    """Common settings. Subclass with ``model_config = SettingsConfigDict(env_prefix="PRISM_X_")``.

    Load with ``load_settings`` (not the bare constructor) to get YAML files, Initialize
    overrides and one readable ConfigError.
    """

    model_config = SettingsConfigDict(env_prefix="PRISM_", extra="forbid")

    host: str = Field(
        default="127.0.0.1", min_length=1, description="Address the gRPC server binds to."
    )
    port: int = Field(default=0, ge=0, le=65535, description="gRPC port (0 = any free port).")
    drain_timeout: Duration = Field(
        default=10.0, description="How long Drain waits for in-flight calls."
    )
    health_interval: Duration = Field(
        default=5.0,
        gt=0,
        description="Seconds between health check runs (an outage shows as UNHEALTHY within "
        "this plus the check timeout).",
    )
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING, ERROR or CRITICAL.")
    log_format: Literal["text", "json"] = "text"
    access_log_every: int = Field(
        default=100,
        ge=0,
        description="Access log: 1 in N fast successful calls (1 = all, 0 = none); failed and "
        "slow calls are always logged. The --access-log flag sets 1.",
    )
    access_log_slow: Duration = Field(
        default=0.1, description="Access log: calls at least this slow are always logged."
    )
    metrics_port: int | None = Field(
        default=None, ge=0, le=65535, description="Prometheus /metrics port (None = disabled)."
    )

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in _LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(_LOG_LEVELS)}")
        return level

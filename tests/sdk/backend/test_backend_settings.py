"""GuardedPoolSettings: the POOL_* / BREAKER_OPEN_SECONDS knobs mixed into plugin settings."""

from __future__ import annotations

import pytest

from prism.sdk.backend import GuardedPoolSettings
from prism.sdk.config import ConfigError, PluginSettings, SettingsConfigDict, load_settings
from prism.sdk.pool import PoolConfig


class DbSettings(PluginSettings, GuardedPoolSettings):
    model_config = SettingsConfigDict(env_prefix="PRISM_DB_")

    dsn: str = "db://local"


def test_defaults_fail_fast() -> None:
    s = GuardedPoolSettings()
    assert (s.pool_min_idle, s.pool_max_open) == (1, 16)
    assert (s.pool_acquire_timeout, s.breaker_open_seconds) == (1.0, 1.0)
    assert s.pool_config() == PoolConfig(min_idle=1, max_open=16, acquire_timeout=1.0)


def test_knobs_follow_the_plugin_prefix() -> None:
    env = {
        "PRISM_DB_POOL_MIN_IDLE": "0",
        "PRISM_DB_POOL_MAX_OPEN": "4",
        "PRISM_DB_POOL_ACQUIRE_TIMEOUT": "250ms",
        "PRISM_DB_BREAKER_OPEN_SECONDS": "5s",
    }
    s = load_settings(DbSettings, environ=env)
    assert s.pool_config() == PoolConfig(min_idle=0, max_open=4, acquire_timeout=0.25)
    assert s.breaker_open_seconds == 5.0 and s.dsn == "db://local"


def test_invalid_knobs_are_named_by_env_var() -> None:
    env = {"PRISM_DB_POOL_MAX_OPEN": "0", "PRISM_DB_POOL_MIN_IDLE": "-1"}
    with pytest.raises(ConfigError) as info:
        load_settings(DbSettings, environ=env)
    assert "PRISM_DB_POOL_MAX_OPEN" in str(info.value)
    assert "PRISM_DB_POOL_MIN_IDLE" in str(info.value)

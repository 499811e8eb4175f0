"""GuardedPoolSettings: the pool and breaker knobs of a plugin with a GuardedPool."""

from __future__ import annotations

from pydantic import BaseModel, Field

from prism.sdk.config import Duration
from prism.sdk.pool import PoolConfig


class GuardedPoolSettings(BaseModel):
    """Mix into a plugin's settings: ``class RedisSettings(PluginSettings, GuardedPoolSettings)``.

    The env names follow the plugin's prefix (``PRISM_REDIS_POOL_MAX_OPEN``). The defaults fail
    fast, as a gateway should: a caller waits at most a second for a free connection, and a
    dead backend is probed again every second.
    """

    pool_min_idle: int = Field(default=1, ge=0, description="Connections kept open and idle.")
    pool_max_open: int = Field(default=16, ge=1, description="Most connections open at once.")
    pool_acquire_timeout: Duration = Field(default=1.0, description="Wait for a free connection.")
    breaker_open_seconds: Duration = Field(default=1.0, description="Open time before a probe.")

    def pool_config(self) -> PoolConfig:
        """The PoolConfig these settings describe (other PoolConfig fields keep defaults)."""
        return PoolConfig(
            min_idle=self.pool_min_idle,
            max_open=self.pool_max_open,
            acquire_timeout=self.pool_acquire_timeout,
        )

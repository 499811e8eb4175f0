"""PoolConfig (the knobs) and ConnectionFactory (how the pool opens, checks, closes connections)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, TypeGuard, TypeVar

C = TypeVar("C")


class ConnectionFactory(Protocol[C]):
    """What a backend plugin supplies so the pool can manage its client connections."""

    async def create(self) -> C:
        """Open one connection; raise (e.g. ConnectionError) if the backend is unreachable."""
        ...

    async def close(self, conn: C) -> None:
        """Close a connection; errors are logged and otherwise ignored by the pool."""
        ...

    async def validate(self, conn: C) -> bool:
        """Cheap liveness probe (e.g. PING); False or an exception discards the connection."""
        ...


@dataclass(frozen=True)
class PoolConfig:
    """Pool sizing and recycling policy. Times are seconds; ``None``/0 disables a timer.

    max_lifetime is shortened by a random fraction up to ``lifetime_jitter`` per connection,
    so connections opened together (e.g. at startup) do not all recycle at the same moment.
    """

    min_idle: int = 0
    max_open: int = 10
    acquire_timeout: float | None = 5.0
    max_lifetime: float | None = 1800.0
    lifetime_jitter: float = 0.1
    idle_timeout: float | None = 300.0
    health_interval: float | None = 30.0
    validate_on_borrow: bool = False
    leak_threshold: float | None = 60.0

    def __post_init__(self) -> None:
        if self.max_open < 1:
            raise ValueError(f"max_open must be >= 1, got {self.max_open}")
        if not 0 <= self.min_idle <= self.max_open:
            raise ValueError(
                f"min_idle must be in [0, max_open={self.max_open}], got {self.min_idle}"
            )
        if not 0.0 <= self.lifetime_jitter < 1.0:
            raise ValueError(f"lifetime_jitter must be in [0, 1), got {self.lifetime_jitter}")
        for name in (
            "acquire_timeout",
            "max_lifetime",
            "idle_timeout",
            "health_interval",
            "leak_threshold",
        ):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0 or None, got {value}")


def enabled(value: float | None) -> TypeGuard[float]:
    """True when an optional timer is switched on (not None and > 0)."""
    return value is not None and value > 0

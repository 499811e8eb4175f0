"""Value types shared by the checker, the proto mapping and the gRPC health service."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass


class HealthStatus(enum.IntEnum):
    """Health of one check or of the whole plugin.

    The numbers match ``prism.HealthStatus`` in lifecycle.proto so a value converts with ``int()``;
    a larger number is worse, which lets the composite status be a plain ``max``.
    """

    HEALTHY = 1
    DEGRADED = 2
    UNHEALTHY = 3


@dataclass(frozen=True)
class CheckOutcome:
    """What a check may return when it wants to say more than "healthy" (e.g. DEGRADED)."""

    status: HealthStatus
    message: str = ""


CheckFn = Callable[[], Awaitable[CheckOutcome | None]]
"""A health check: ``None`` means healthy, an exception means failed with its message."""


@dataclass(frozen=True)
class CheckResult:
    """The cached result of the latest run of one named check."""

    name: str
    status: HealthStatus
    message: str
    critical: bool
    duration_ms: float
    checked_at: float
    """Unix seconds when the check finished (0.0 if it has not run yet)."""


@dataclass(frozen=True)
class HealthReport:
    """The composite status plus every check's latest result."""

    status: HealthStatus
    message: str
    checks: Mapping[str, CheckResult]

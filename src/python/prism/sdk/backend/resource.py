"""Resource: what a plugin builds that runs, reports health and must be closed.

Why a base class: every plugin wired the same three calls by hand (register the backend's
health checks, start it at Initialize, close it at Stop within the drain timeout). A plugin's
``Built`` attribute (prism.sdk.plugin) holding a Resource gets those calls from the runtime,
in declaration order, closed in reverse. Nominal rather than structural so that opting in is
explicit and mypy checks the overrides.
"""

from __future__ import annotations

from prism.sdk.health import HealthChecker

__all__ = ["Resource"]


class Resource:
    """Override what applies; each default does nothing."""

    def register_health(self, health: HealthChecker) -> None:
        """Add this resource's health checks to the plugin's checker (before ``start``)."""

    async def start(self) -> None:
        """Open connections, start background work (at Initialize, after the build)."""

    async def close(self, timeout: float | None = None) -> None:
        """Release everything, waiting up to ``timeout`` s for work in progress (at Stop)."""

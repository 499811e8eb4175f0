"""Health checking for Prism plugins: liveness, readiness and per-dependency checks.

What for: a plugin registers named async checks (ping Redis, Kafka metadata, ...). The
``HealthChecker`` runs them in the background every ``interval`` seconds, each under its own
timeout, and caches the results; the lifecycle HealthCheck RPC (``report_to_proto``) and the
standard ``grpc.health.v1`` service (``GrpcHealthService``) only read that cache.

Why built this way:
- Health endpoints are polled by orchestrators with short deadlines. Running checks inline
  would let one hung backend turn every probe into a timeout, so ``report()`` never awaits a
  check and a check that overruns its timeout is simply a failure ("timed out after Xs").
- Not every failure means "stop sending traffic": a failing critical check makes the plugin
  UNHEALTHY, a non-critical one only DEGRADED (still serving), and checks may report DEGRADED
  themselves (e.g. a replica lagging).
- Liveness (restart me) and readiness (route to me) are different questions: readiness is set
  by the lifecycle (not ready before Start or after Drain), liveness only fails when the
  process is known broken, so a flaky backend never gets a healthy process killed.
- The grpc.health.v1 protocol (Check/Watch semantics, NOT_FOUND for unknown services) comes
  from grpcio-health-checking's asyncio servicer; our code only decides the statuses. The
  checker itself is ours because no library offers async checks with cached results, timeouts
  and critical/non-critical composition in a few lines.
"""

from prism.sdk.health.checker import DEFAULT_CHECK_TIMEOUT, HealthChecker
from prism.sdk.health.grpc_service import LIVENESS_SERVICE, GrpcHealthService
from prism.sdk.health.proto import report_to_proto
from prism.sdk.health.types import CheckFn, CheckOutcome, CheckResult, HealthReport, HealthStatus

__all__ = [
    "DEFAULT_CHECK_TIMEOUT",
    "LIVENESS_SERVICE",
    "CheckFn",
    "CheckOutcome",
    "CheckResult",
    "GrpcHealthService",
    "HealthChecker",
    "HealthReport",
    "HealthStatus",
    "report_to_proto",
]

"""Map a HealthReport onto the LifecycleInterface.HealthCheck response message."""

from __future__ import annotations

from prism.interfaces import lifecycle_pb2
from prism.sdk.health.types import HealthReport


def report_to_proto(report: HealthReport) -> lifecycle_pb2.HealthCheckResponse:
    """Build the HealthCheck response: composite status plus one detail entry per check."""
    response = lifecycle_pb2.HealthCheckResponse(
        status=lifecycle_pb2.HealthStatus.ValueType(int(report.status)),
        message=report.message,
    )
    for name, result in report.checks.items():
        detail = response.details[name]
        detail.status = lifecycle_pb2.HealthStatus.ValueType(int(result.status))
        detail.message = result.message
        detail.critical = result.critical
        detail.duration_ms = result.duration_ms
        detail.checked_at_ms = int(result.checked_at * 1000)
    return response

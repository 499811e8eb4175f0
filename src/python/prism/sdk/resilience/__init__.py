"""Retry with back-off and a circuit breaker for calls to backends.

Retry (:func:`retry_call`) is built on tenacity's ``AsyncRetrying``: tenacity already gets
the attempt loop, outcome bookkeeping and async sleeping right, so we only supply Prism's
policy on top: retry only what :func:`~prism.sdk.errors.classify` calls retryable,
exponential back-off with *full* jitter (sleep uniformly in ``[0, backoff]`` so a fleet of
clients does not retry in lock-step), and never sleep past the request deadline from
:mod:`prism.sdk.deadline`: when the next back-off would overrun it we raise
``DeadlineExceededError`` at once instead of sleeping only to fail.

The circuit breaker (:class:`CircuitBreaker`) is our own code. pybreaker, the usual library,
opens after N *consecutive* failures, which trips on a short burst and never trips on a
steady 50% error rate; it is thread/sync-oriented rather than asyncio-native; and it has no
sliding time window, no minimum-call count and no limit on half-open probes (every caller
rushes the recovering backend). Ours opens on a failure *rate* over a sliding time window
once a minimum number of calls was seen, rejects immediately while open, admits a bounded
number of probe calls when half-open, notifies listeners on every transition and exports
Prometheus metrics. It runs on one event loop without locks: every state change happens
between awaits.
"""

from prism.sdk.resilience._breaker import BreakerListener, BreakerState, CircuitBreaker
from prism.sdk.resilience._retry import RetryPolicy, backoff_delay, retry_call

__all__ = [
    "BreakerListener",
    "BreakerState",
    "CircuitBreaker",
    "RetryPolicy",
    "backoff_delay",
    "retry_call",
]

"""The call path to a pooled backend: pool, circuit breaker and health in one object.

What for: every plugin whose backend takes client connections (Redis, SQL, ...) needs the
same wiring: borrow a connection from a ``prism.sdk.pool.Pool``, call through a
``prism.sdk.resilience.CircuitBreaker`` so a dead backend fails fast, classify the client
library's exceptions with the plugin's classifiers in all three places (pool: discard the
connection; breaker: count the failure; caller: see UNAVAILABLE, not INTERNAL), and report
health: a critical ping, DEGRADED when the pool is nearly all lent out, and an immediate
re-check when the breaker opens or closes. ``GuardedPool`` holds that wiring once, so a
plugin supplies only its ConnectionFactory and classifiers; ``GuardedPoolSettings`` gives
its settings the matching ``POOL_*`` / ``BREAKER_OPEN_SECONDS`` knobs. A GuardedPool is
a ``Resource``: one that a plugin builds is registered, started and closed by the runtime.

Why our own code: it is composition of SDK parts (pool, breaker, health); no library has them.
"""

from prism.sdk.backend.guarded import GuardedPool
from prism.sdk.backend.resource import Resource
from prism.sdk.backend.settings import GuardedPoolSettings

__all__ = ["GuardedPool", "GuardedPoolSettings", "Resource"]

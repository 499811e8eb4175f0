"""Redis plugin: KeyValueBasic + TTL + Scan and PubSub served from a Redis server.

A thin layer of Redis logic over the SDK: connections come from ``prism.sdk.pool``, calls
run behind a ``prism.sdk.resilience.CircuitBreaker``, redis errors map to Prism errors, and
the gRPC side is ``prism.sdk.patterns``. Keys are hashes with PEXPIRE TTLs plus a sorted-set
index per namespace (ordered, resumable Scan); pub/sub uses Redis Streams with one consumer
group per subscriber id. Configured by ``PRISM_REDIS_*``.
"""

from prism.plugins.redis.broker import RedisBroker, RedisSubscription
from prism.plugins.redis.connection import Backend, RedisFactory, classify_redis
from prism.plugins.redis.plugin import RedisPlugin, RedisSettings
from prism.plugins.redis.store import RedisStore

__all__ = [
    "Backend",
    "RedisBroker",
    "RedisFactory",
    "RedisPlugin",
    "RedisSettings",
    "RedisStore",
    "RedisSubscription",
    "classify_redis",
]

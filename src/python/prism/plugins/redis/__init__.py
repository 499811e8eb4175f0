"""Redis plugin: KeyValueBasic + TTL + Scan and PubSub served from a Redis server.

A thin layer of Redis logic over the SDK: connections come from ``prism.sdk.pool`` behind a
``prism.sdk.resilience.CircuitBreaker`` (both wired by ``prism.sdk.backend.GuardedPool``),
redis errors map to Prism errors, and the gRPC side is ``prism.sdk.patterns``. Keys are
hashes with PEXPIRE TTLs plus a sorted-set index per namespace (ordered, resumable Scan);
pub/sub uses Redis Streams with one consumer group per subscriber id. Configured by
``PRISM_REDIS_*``.
"""

from prism.plugins.redis.broker import RedisBroker
from prism.plugins.redis.connection import Backend, classify_redis
from prism.plugins.redis.plugin import RedisPlugin
from prism.plugins.redis.settings import RedisSettings
from prism.plugins.redis.store import RedisStore

__all__ = ["Backend", "RedisBroker", "RedisPlugin", "RedisSettings", "RedisStore", "classify_redis"]

"""Random and mutated request bytes to every contract method the Redis plugin serves, on a
real Redis, directly and through the proxy (``proxy.plugin_fuzz``): never UNKNOWN or INTERNAL."""

from __future__ import annotations

from prism.plugins.redis import RedisPlugin, RedisSettings
from prism.sdk.config import load_settings
from proxy.plugin_fuzz import fuzz_plugin
from services.servers import RedisServer


async def test_redis_direct_and_through_the_proxy(redis_srv: RedisServer) -> None:
    settings = load_settings(
        RedisSettings, environ={}, overrides={"port": 0, "addr": redis_srv.addr}
    )
    await fuzz_plugin(RedisPlugin(settings), seed=2)

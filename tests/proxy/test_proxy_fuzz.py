"""Random and mutated request bytes to every contract method a real plugin serves, directly
and through the proxy: never UNKNOWN or INTERNAL, and the proxy routes by the namespace the
plugin parses (``proxy.plugin_fuzz``; the Redis plugin's run is in tests/plugins/redis)."""

from __future__ import annotations

from prism.plugins.memstore.plugin import MemStorePlugin, MemStoreSettings
from proxy.plugin_fuzz import fuzz_plugin


async def test_memstore_direct_and_through_the_proxy() -> None:
    await fuzz_plugin(MemStorePlugin(MemStoreSettings(port=0)), seed=1)

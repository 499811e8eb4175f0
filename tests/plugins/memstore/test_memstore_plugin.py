"""MemStorePlugin builds its store from the final settings (Initialize overrides included)."""

from __future__ import annotations

import pytest

from prism.plugins.memstore import MemStorePlugin, MemStoreSettings
from prism.sdk.config import load_settings
from prism.sdk.errors import ResourceExhaustedError
from prism.sdk.health import HealthStatus
from prism.sdk.plugin import PluginRuntime


async def test_initialize_overrides_reach_the_store_and_its_health_check() -> None:
    plugin = MemStorePlugin(load_settings(MemStoreSettings, environ={}))
    runtime = PluginRuntime(plugin)
    await runtime.initialize({"max_keys": "2"})
    try:
        store = plugin.kv_store()
        assert store.max_keys == 2
        await store.set("ns", "a", b"v", None, {})
        assert (await plugin.health.run_checks()).status is HealthStatus.HEALTHY
        await store.set("ns", "b", b"v", None, {})
        report = await plugin.health.run_checks()
        assert report.checks["capacity"].status is HealthStatus.DEGRADED
        with pytest.raises(ResourceExhaustedError):
            await store.set("ns", "c", b"v", None, {})
    finally:
        await runtime.stop()

"""Plugin lifecycle: the base class plugins subclass and ``run_plugin``, their entry point.

What for: a plugin author writes a ``Plugin`` subclass (settings class, ``Built`` attributes
assigned in ``initialize()``, servicers, a few async hooks) and
``raise SystemExit(run_plugin(MyPlugin))``. Everything else — settings and config errors,
logging, the gRPC server with health/reflection/metrics, the Initialize/Start/Drain/Stop
state machine (served as ``prism.LifecycleInterface`` for the proxy, or run automatically),
building the plugin once its settings are final, the "not started" gate and graceful signal
handling — is the SDK's, so every plugin behaves the same.

Why this way: the state machine lives in one object (:class:`PluginRuntime`) that both the
auto mode and the LifecycleInterface servicer drive, so the two modes cannot diverge; the gate
is an interceptor rather than a check in each servicer so no plugin can forget it.
"""

from prism.sdk.plugin.base import Plugin
from prism.sdk.plugin.built import Built, NotBuiltError
from prism.sdk.plugin.gate import PluginStateInterceptor
from prism.sdk.plugin.lifecycle import CONTRACT_VERSION, LIFECYCLE_SERVICE_NAME, LifecycleServicer
from prism.sdk.plugin.runner import run_plugin, serve_plugin
from prism.sdk.plugin.runtime import (
    DrainAware,
    DrainHook,
    PluginRuntime,
    PluginState,
    started_plugin,
)
from prism.sdk.server import ServiceBinding

__all__ = [
    "Built",
    "CONTRACT_VERSION",
    "DrainAware",
    "DrainHook",
    "LIFECYCLE_SERVICE_NAME",
    "LifecycleServicer",
    "NotBuiltError",
    "Plugin",
    "PluginRuntime",
    "PluginState",
    "PluginStateInterceptor",
    "ServiceBinding",
    "run_plugin",
    "serve_plugin",
    "started_plugin",
]

"""Prism proxy: one gRPC endpoint that routes every contract call to its namespace's plugin.

What for: clients talk to one address (127.0.0.1:8980) and name a namespace in each request;
the proxy sends the call to the plugin serving that namespace (MemStore, Redis, Kafka, or any
plugin module / running endpoint from the YAML config), launching and supervising local
plugin processes itself.

Why built this way: the proxy must cost as little as possible, so it never decodes a message
— it reads the ``namespace`` field straight off the wire bytes and relays raw bytes through
generic handlers (:mod:`prism.proxy.forward`); method tables come from the generated
descriptors, so new contract methods need no proxy change. Failure handling is about never
making callers wait on a dead plugin: an unknown namespace is NOT_FOUND, a plugin that exited
is UNAVAILABLE at once (the supervisor sees the exit), a plugin that keeps failing trips a
per-upstream CircuitBreaker from ``prism.sdk.resilience``. Supervision is our own small code on
asyncio subprocesses because it must speak the plugins' LifecycleInterface
(Initialize -> Start -> Drain -> Stop), which no generic process manager does.
"""

from prism.proxy.config import (
    InstanceSpec,
    ProxyConfig,
    ProxyConfigError,
    default_config,
    load_config,
    parse_config,
    parse_config_text,
    with_plugin_settings,
)
from prism.proxy.run import run_proxy
from prism.proxy.server import ProxyServer
from prism.proxy.supervisor import PluginStartError
from prism.proxy.upstream import Upstream, UpstreamState

__all__ = [
    "InstanceSpec",
    "PluginStartError",
    "ProxyConfig",
    "ProxyConfigError",
    "ProxyServer",
    "Upstream",
    "UpstreamState",
    "default_config",
    "load_config",
    "parse_config",
    "parse_config_text",
    "run_proxy",
    "with_plugin_settings",
]

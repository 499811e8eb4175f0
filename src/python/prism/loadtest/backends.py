"""Open a plugin's pattern object by plugin name: its key-value store, pub/sub broker, or
multicast registry coordinator (for the registry over the slots the command-line addresses
pick).

Why through the plugin class (not the store class alone): the SDK builds a plugin from its
settings (its ``initialize()``: pools, breakers, producers) and starts it the same way here
(``started_plugin``) as for the server, so the load test exercises exactly what the served
plugin runs — minus gRPC. The plugin is found like the
gateway finds it (``prism.sdk.plugin.discovery``: a plugin folder or an installed plugin wheel)
and offers its objects through the typed ``Plugin.kv_store()`` / ``pubsub_broker()`` /
``registry()``, so a new
plugin is load-tested with no edit here. Settings load the usual way (``load_settings``: the
plugin's ``PRISM_<NAME>_*`` environment, then ``--set KEY=VALUE`` on top).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from prism.sdk.backend import GuardedPoolSettings
from prism.sdk.config import load_settings, settings_summary
from prism.sdk.errors import Classifier
from prism.sdk.plugin import Plugin, started_plugin
from prism.sdk.plugin.discovery import PluginNotFound, load_plugin_class, plugin_modules

__all__ = [
    "Opened",
    "open_kv",
    "open_pubsub",
    "open_registry",
    "pool_size",
    "receivers_in_process",
    "registry_plugin",
    "registry_settings",
]


@dataclass(frozen=True)
class Opened:
    """A pattern object with the plugin's error classifiers and its settings for the report."""

    target: object
    classifiers: Sequence[Classifier]
    settings: Mapping[str, object]


@asynccontextmanager
async def _plugin(name: str, settings: Mapping[str, str] | None) -> AsyncIterator[Plugin[Any]]:
    try:
        cls = load_plugin_class(name)
    except PluginNotFound as exc:
        raise ValueError(str(exc)) from exc
    plugin = cls(load_settings(cls.settings_class, overrides=dict(settings or {}) or None))
    async with started_plugin(plugin):
        yield plugin


def _opened(name: str, target: object | None, what: str, plugin: Plugin[Any]) -> Opened:
    if target is None:
        raise ValueError(f"plugin {name!r} serves no {what}")
    return Opened(target, plugin.classifiers(), settings_summary(plugin.settings))


@asynccontextmanager
async def open_kv(name: str, settings: Mapping[str, str] | None = None) -> AsyncIterator[Opened]:
    """The ``KeyValueStore`` of plugin ``name`` (settings overrides on top), started."""
    async with _plugin(name, settings) as plugin:
        yield _opened(name, plugin.kv_store(), "key-value store", plugin)


@asynccontextmanager
async def open_pubsub(
    name: str, settings: Mapping[str, str] | None = None
) -> AsyncIterator[Opened]:
    """The ``PubSubBroker`` of plugin ``name`` (settings overrides on top), started."""
    async with _plugin(name, settings) as plugin:
        yield _opened(name, plugin.pubsub_broker(), "pub/sub broker", plugin)


def _slots(*, redis_addr: str | None, nats_servers: str | None, messaging: bool) -> tuple[str, str]:
    """(registry slot, messaging slot) for the given addresses.

    The registry is Redis when an address is given, else MemStore. Messaging (only for runs
    that multicast) is NATS when servers are given, else Redis pub/sub when Redis is, else
    in-process; a run that does not multicast uses in-process, which costs nothing.
    """
    registry = "redis" if redis_addr else "memstore"
    if not messaging:
        return registry, "inprocess"
    if nats_servers:
        return registry, "nats"
    return registry, "redis" if redis_addr else "inprocess"


def registry_settings(
    *, redis_addr: str | None, nats_servers: str | None, messaging: bool
) -> dict[str, str]:
    """The registry plugin's settings that ``--redis-addr`` / ``--nats-servers`` stand for."""
    registry, messaging_slot = _slots(
        redis_addr=redis_addr, nats_servers=nats_servers, messaging=messaging
    )
    settings = {"registry": registry, "messaging": messaging_slot}
    if redis_addr:
        settings["redis_addr"] = redis_addr
    if messaging_slot == "nats" and nats_servers:
        settings["nats_servers"] = nats_servers
    return settings


def receivers_in_process(settings: Mapping[str, object]) -> bool:
    """Whether a registry plugin with these settings delivers in process only (its live
    receivers must then share the generator's process; any other slot reaches a child)."""
    return settings.get("messaging") == "inprocess"


def pool_size(settings: Mapping[str, object]) -> int:
    """The plugin's connection pool size (the SDK's ``pool_max_open``, or its default): how
    many calls can be in flight without one waiting for a connection."""
    size = settings.get("pool_max_open", GuardedPoolSettings.model_fields["pool_max_open"].default)
    return int(str(size))


def registry_plugin() -> str:
    """The name of the one plugin found that serves a registry (overrides ``registry()``).

    Why not a default name: the load tool names no plugin; with several registry plugins
    installed the user picks one with ``--plugin``.
    """
    found = []
    for name in plugin_modules():
        try:
            cls = load_plugin_class(name)
        except (ImportError, PluginNotFound):
            continue  # a plugin whose requirements are not installed here serves nothing
        if cls.registry is not Plugin.registry:
            found.append(name)
    if len(found) != 1:
        which = ", ".join(found) or "none found"
        raise ValueError(f"pick the registry plugin with --plugin (registry plugins: {which})")
    return found[0]


@asynccontextmanager
async def open_registry(
    name: str, settings: Mapping[str, str] | None = None
) -> AsyncIterator[Opened]:
    """The multicast registry ``Coordinator`` of plugin ``name`` (settings on top), started."""
    async with _plugin(name, settings) as plugin:
        yield _opened(name, plugin.registry(), "multicast registry", plugin)

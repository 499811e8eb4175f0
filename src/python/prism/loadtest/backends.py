"""Open a plugin's pattern object: the MemStore store, Redis store/broker, Kafka broker, or the
multicast registry coordinator over the slots the command-line addresses pick.

Why through the plugin class (not the store class alone): ``Plugin.initialize()`` is how a
plugin builds its backend from its settings (pools, breakers, producers), so the load test
exercises exactly what the served plugin runs — minus gRPC. Settings load the usual way
(``load_settings``: ``PRISM_REDIS_*`` / ``PRISM_KAFKA_*`` environment, then the command-line
address on top), so pool sizes and timeouts are tuned as for the served plugin.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

from prism.sdk.config import load_settings, settings_summary
from prism.sdk.errors import Classifier
from prism.sdk.patterns import KeyValueStore, PubSubBroker
from prism.sdk.plugin import Plugin

__all__ = [
    "KV_PLUGINS",
    "PUBSUB_PLUGINS",
    "Opened",
    "open_kv",
    "open_pubsub",
    "open_registry",
    "registry_slots",
]

KV_PLUGINS = ("memstore", "redis")
PUBSUB_PLUGINS = ("redis", "kafka")


@dataclass(frozen=True)
class Opened:
    """A pattern object with the plugin's error classifiers and its settings for the report."""

    target: object
    classifiers: Sequence[Classifier]
    settings: Mapping[str, object]


@asynccontextmanager
async def _plugin(
    name: str, redis_addr: str | None, kafka_bootstrap: str | None
) -> AsyncIterator[Plugin[Any]]:
    # Imported lazily: a MemStore run needs neither redis nor confluent-kafka to load.
    if name == "memstore":
        from prism.plugins.memstore import MemStorePlugin, MemStoreSettings

        plugin: Plugin[Any] = MemStorePlugin(load_settings(MemStoreSettings))
    elif name == "redis":
        from prism.plugins.redis import RedisPlugin, RedisSettings

        overrides = {"addr": redis_addr} if redis_addr else None
        plugin = RedisPlugin(load_settings(RedisSettings, overrides=overrides))
    elif name == "kafka":
        from prism.plugins.kafka import KafkaPlugin, KafkaSettings

        overrides = {"bootstrap_servers": kafka_bootstrap} if kafka_bootstrap else None
        plugin = KafkaPlugin(load_settings(KafkaSettings, overrides=overrides))
    else:
        raise ValueError(f"unknown plugin {name!r}")
    await plugin.initialize()
    try:
        await plugin.start()
        yield plugin
    finally:
        await plugin.stop()


@asynccontextmanager
async def open_kv(name: str, *, redis_addr: str | None = None) -> AsyncIterator[Opened]:
    """The ``KeyValueStore`` of plugin ``name`` (memstore or redis), started; stopped after."""
    if name not in KV_PLUGINS:
        raise ValueError(f"kv runs on {' or '.join(KV_PLUGINS)}, not {name!r}")
    async with _plugin(name, redis_addr, None) as plugin:
        store = cast(KeyValueStore, getattr(plugin, "store"))  # noqa: B009 (typed by the cast)
        yield Opened(store, plugin.classifiers(), settings_summary(plugin.settings))


@asynccontextmanager
async def open_pubsub(
    name: str, *, redis_addr: str | None = None, kafka_bootstrap: str | None = None
) -> AsyncIterator[Opened]:
    """The ``PubSubBroker`` of plugin ``name`` (redis or kafka), started; stopped after."""
    if name not in PUBSUB_PLUGINS:
        raise ValueError(f"pubsub runs on {' or '.join(PUBSUB_PLUGINS)}, not {name!r}")
    async with _plugin(name, redis_addr, kafka_bootstrap) as plugin:
        broker = cast(PubSubBroker, getattr(plugin, "broker"))  # noqa: B009 (typed by the cast)
        yield Opened(broker, plugin.classifiers(), settings_summary(plugin.settings))


def registry_slots(
    *, redis_addr: str | None, nats_servers: str | None, messaging: bool
) -> tuple[str, str]:
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


@asynccontextmanager
async def open_registry(
    *, redis_addr: str | None = None, nats_servers: str | None = None, messaging: bool = True
) -> AsyncIterator[Opened]:
    """The multicast registry ``Coordinator`` the multicast plugin would serve, started."""
    from prism.plugins.multicast import build_coordinator
    from prism.plugins.multicast.plugin import CLASSIFIERS

    registry, messaging_slot = registry_slots(
        redis_addr=redis_addr, nats_servers=nats_servers, messaging=messaging
    )
    settings: dict[str, Any] = {}
    if redis_addr:
        settings["redis_addr"] = redis_addr
    if messaging_slot == "nats":
        settings["nats_servers"] = nats_servers
    slots = await build_coordinator(registry, messaging_slot, **settings)
    try:
        yield Opened(
            slots.coordinator,
            CLASSIFIERS,
            {"registry": registry, "messaging": messaging_slot, **settings},
        )
    finally:
        await slots.close()

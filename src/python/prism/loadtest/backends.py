"""Open a plugin's pattern object by plugin name: the MemStore store, Redis store/broker, Kafka broker.

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

__all__ = ["KV_PLUGINS", "PUBSUB_PLUGINS", "Opened", "open_kv", "open_pubsub"]

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

"""The multicast registry plugin: settings pick the slots; the SDK coordinator serves them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from prism.plugins.multicast.factory import Slots, build_slots
from prism.plugins.multicast.settings import MulticastSettings
from prism.plugins.nats.connection import CLASSIFIERS as NATS_CLASSIFIERS
from prism.plugins.redis.connection import CLASSIFIERS as REDIS_CLASSIFIERS
from prism.sdk.errors import Classifier
from prism.sdk.patterns import Coordinator, multicast_registry_binding
from prism.sdk.plugin import Built, Plugin
from prism.sdk.server import ServiceBinding

CLASSIFIERS: tuple[Classifier, ...] = (*REDIS_CLASSIFIERS, *NATS_CLASSIFIERS)
"""Errors of either backend a namespace's slots may use (also the load tester's)."""


class MulticastPlugin(Plugin[MulticastSettings]):
    name: ClassVar[str] = "multicast"
    version: ClassVar[str] = "0.1.0"
    slots = Built[Slots]()  # a Resource: health checks, start and close are the SDK's

    def registry(self) -> Coordinator:
        return self.slots.coordinator

    def servicers(self) -> Sequence[ServiceBinding]:
        return [multicast_registry_binding(lambda: self.slots.coordinator)]

    def classifiers(self) -> Sequence[Classifier]:
        return CLASSIFIERS

    async def initialize(self) -> None:
        self.slots = build_slots(self.settings)

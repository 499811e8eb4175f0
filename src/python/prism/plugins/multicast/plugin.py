"""The multicast registry plugin: settings pick the slots; the SDK coordinator serves them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, cast

from prism.plugins.multicast.factory import Slots, build_slots
from prism.plugins.multicast.settings import MulticastSettings
from prism.plugins.nats.connection import CLASSIFIERS as NATS_CLASSIFIERS
from prism.plugins.redis.connection import CLASSIFIERS as REDIS_CLASSIFIERS
from prism.sdk.errors import Classifier
from prism.sdk.patterns import (
    Coordinator,
    MulticastRegistryServicer,
    multicast_registry_binding,
)
from prism.sdk.plugin import Plugin
from prism.sdk.server import ServiceBinding

CLASSIFIERS: tuple[Classifier, ...] = (*REDIS_CLASSIFIERS, *NATS_CLASSIFIERS)
"""Errors of either backend a namespace's slots may use (also the load tester's)."""


class MulticastPlugin(Plugin[MulticastSettings]):
    name: ClassVar[str] = "multicast"
    version: ClassVar[str] = "0.1.0"
    settings_class: ClassVar[type[MulticastSettings]] = MulticastSettings

    def __init__(self, settings: MulticastSettings) -> None:
        super().__init__(settings)
        self.slots: Slots = build_slots(settings)
        self._built_from = settings
        self.binding = multicast_registry_binding(self.slots.coordinator)
        self.servicer = cast(MulticastRegistryServicer, self.binding.servicer)

    def registry(self) -> Coordinator:
        return self.slots.coordinator

    def servicers(self) -> Sequence[ServiceBinding]:
        return [self.binding]

    def classifiers(self) -> Sequence[Classifier]:
        return CLASSIFIERS

    async def initialize(self) -> None:
        if self._built_from is not self.settings:
            # Initialize overrides replaced the settings: rebuild the slots behind the servicer.
            self.slots, self._built_from = build_slots(self.settings), self.settings
            self.servicer.coordinator = self.slots.coordinator
        if self.slots.redis is not None:
            self.slots.redis.register_health(self.health)
        if self.slots.nats is not None:
            self.slots.nats.register_health(self.health)
        await self.slots.start()

    async def stop(self) -> None:
        await self.slots.close(timeout=float(self.settings.drain_timeout))

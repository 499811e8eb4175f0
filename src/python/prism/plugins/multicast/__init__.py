"""The multicast registry pattern plugin (``python -m prism.plugins.multicast``)."""

from prism.plugins.multicast.factory import Slots, build_coordinator, build_slots
from prism.plugins.multicast.plugin import MulticastPlugin
from prism.plugins.multicast.settings import MulticastSettings

__all__ = ["MulticastPlugin", "MulticastSettings", "Slots", "build_coordinator", "build_slots"]

"""NATS for Prism patterns: a guarded connection and the multicast messaging slot."""

from prism.plugins.nats.connection import NatsBackend, classify_nats
from prism.plugins.nats.messaging import NatsMessaging

__all__ = ["NatsBackend", "NatsMessaging", "classify_nats"]

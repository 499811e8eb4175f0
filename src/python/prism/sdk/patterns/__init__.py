"""Contract servicers that plugins plug a backend into.

Why: every key-value plugin must validate the same inputs, map "missing" to NOT_FOUND the same
way, encode scan cursors the same way and stream the same messages; every pub/sub plugin must
signal subscription readiness, keep per-subscriber streams, end them on Unsubscribe, keep
each delivered message outstanding until the client acknowledges it (redelivering it after its
ack deadline, holding back past ``max_outstanding``), and end live streams when the plugin
starts draining (UNAVAILABLE "plugin draining...", so subscribers resubscribe). Written
once here, a plugin implements a small async protocol (``KeyValueStore``, ``PubSubBroker``, ...)
over its backend and gets the gRPC side for free, so plugins stay short and cannot drift apart.
A store with no cheaper way to count mixes in ``CountByScan`` (``count`` walks ``scan``).
The multicast registry (``Coordinator``) fills a ``RegistrySlot`` and a ``MessagingSlot``.
"""

from prism.sdk.patterns.count import CountByScan
from prism.sdk.patterns.keyvalue import (
    Entry,
    KeyValueBasicServicer,
    KeyValueScanServicer,
    KeyValueScanStore,
    KeyValueStore,
    KeyValueTTLServicer,
    KeyValueTTLStore,
    decode_cursor,
    encode_cursor,
    keyvalue_bindings,
)
from prism.sdk.patterns.multicast import (
    Coordinator,
    Delivery,
    MessagingSlot,
    MulticastRegistryServicer,
    MulticastResult,
    Outcome,
    Receiver,
    Registered,
    RegistrySlot,
    multicast_registry_binding,
)
from prism.sdk.patterns.pubsub import (
    SUBSCRIBED_METADATA,
    BrokerMessage,
    PubSubBroker,
    PubSubServicer,
    Subscription,
    pubsub_binding,
)
from prism.sdk.patterns.registry_filter import Filter, parse_filter

__all__ = [
    "Coordinator",
    "CountByScan",
    "Delivery",
    "Filter",
    "MessagingSlot",
    "MulticastRegistryServicer",
    "MulticastResult",
    "Outcome",
    "Receiver",
    "Registered",
    "RegistrySlot",
    "SUBSCRIBED_METADATA",
    "BrokerMessage",
    "Entry",
    "KeyValueBasicServicer",
    "KeyValueScanServicer",
    "KeyValueScanStore",
    "KeyValueStore",
    "KeyValueTTLServicer",
    "KeyValueTTLStore",
    "PubSubBroker",
    "PubSubServicer",
    "Subscription",
    "decode_cursor",
    "encode_cursor",
    "keyvalue_bindings",
    "multicast_registry_binding",
    "parse_filter",
    "pubsub_binding",
]

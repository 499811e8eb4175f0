"""Prism names -> Kafka names: an injective, legal mapping (see the package docstring)."""

from __future__ import annotations

import hashlib
import string

MAX_TOPIC_CHARS = 249
"""Kafka's limit on a topic name's length."""

_KEEP = frozenset(string.ascii_letters + string.digits)


def escape(text: str) -> str:
    """ASCII letters and digits kept; every other character as ``_hh`` per UTF-8 byte."""
    return "".join(c if c in _KEEP else "".join(f"_{b:02x}" for b in c.encode()) for c in text)


def kafka_topic(namespace: str, topic: str) -> str:
    """``prism-<ns>-<topic>`` (escaped); too long -> ``prism--<sha256/128>-<readable prefix>``."""
    name = f"prism-{escape(namespace)}-{escape(topic)}"
    if len(name) <= MAX_TOPIC_CHARS:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:32]
    return f"prism--{digest}-{name[6:]}"[:MAX_TOPIC_CHARS]


def group_id(namespace: str, topic: str, subscriber_id: str) -> str:
    """One consumer group per (namespace, topic, subscriber id)."""
    return f"prism-{escape(namespace)}-{escape(topic)}-{escape(subscriber_id)}"

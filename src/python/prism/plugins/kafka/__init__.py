"""Kafka plugin: ``prism.PubSubBasicInterface`` over Apache Kafka through confluent-kafka.

Guarantees. Publish uses an idempotent producer with ``acks=all`` and returns only after the
delivery report (bridged from librdkafka's callback thread to an asyncio future with
``call_soon_threadsafe``), so an acknowledged message is on every in-sync replica; the message
id is ``<partition>-<offset>``. Publish waits at most publish_timeout (librdkafka's
``message.timeout.ms``), less when the caller's deadline is nearer: it answers UNAVAILABLE
``deadline_margin`` before that deadline, never letting the caller run into DEADLINE_EXCEEDED
(a broker crash stalls acks=all writes until the controller fences it), and runs through an
SDK circuit breaker, so a down or stalled cluster gives UNAVAILABLE quickly. Each
subscriber id is its own consumer group (fan-out); ``enable.auto.commit=false``, and a commit
moves only up to the lowest delivered-but-unacknowledged offset of a partition, whatever order
the client acks in (at-least-once across resubscribes). A new group starts at the current end
of the topic; an existing one resumes where it left. A fatal producer error replaces the
producer (health DEGRADED until the new one delivers).

Names. Kafka topics allow ``[a-zA-Z0-9._-]``, at most 249 chars. Topic =
``prism-<ns>-<topic>`` where each part keeps ASCII letters and digits and writes every other
character as ``_hh`` per UTF-8 byte (``orders.eu`` -> ``orders_2eeu``): injective, no ``.``
(so no metric-name clash with ``_``), ``-`` only as separator. Longer names become
``prism--<128-bit sha256>-<readable prefix>``. Group id = ``prism-<ns>-<topic>-<subscriber>``
with the same escaping: one group per subscription key, so a subscriber's rebalance on one
topic never stalls its other topics. Topics are created explicitly (AdminClient, broker
default replication) on first publish/subscribe, not left to broker auto-create.

No connection pool. The pool serves clients that hold one request per connection; a librdkafka
Producer is thread-safe and multiplexes every broker connection itself, so the plugin has
exactly one (plus one AdminClient). A consumer *is* a group membership, so consumers are per
subscription by nature and cannot be shared. Consumer calls run on one thread per
subscription and producer delivery reports on one poll thread: the event loop never blocks.
"""

from prism.plugins.kafka.broker import KafkaBroker, KafkaSubscription
from prism.plugins.kafka.plugin import KafkaPlugin
from prism.plugins.kafka.settings import KafkaSettings

__all__ = ["KafkaBroker", "KafkaPlugin", "KafkaSettings", "KafkaSubscription"]

"""Conformance kit: pytest base classes that check a plugin against the Prism contract over gRPC.

Every plugin — ours or third-party — must behave the same at the wire: same status codes, same
limits, same ordering. Rather than each plugin re-deriving those rules in its own tests, it
subclasses these classes and runs the whole suite against its running server::

    import grpc, pytest
    from prism.sdk.testing import KeyValueBasicConformance, KeyValueTTLConformance

    @pytest.fixture
    async def prism_channel(my_plugin_address: str):   # conftest.py or a method of the class
        async with grpc.aio.insecure_channel(my_plugin_address) as channel:
            yield channel

    class TestRedisKeyValue(KeyValueBasicConformance): pass
    class TestRedisTTL(KeyValueTTLConformance):
        ttl_grace_seconds = 2.0                        # timing knobs are class attributes

Contract of the kit:

- The subclass supplies ``prism_channel`` (a ``grpc.aio.Channel``); it may override the
  ``prism_namespace`` fixture (default ``"conformance"``) and the timing class attributes of
  :class:`ConformanceBase` (``rpc_timeout_seconds``, ``ttl_seconds``, ``ttl_grace_seconds``,
  ``message_timeout_seconds``, ``quiet_period_seconds``, ...).
- Every test uses fresh uuid-based keys, prefixes, topics and subscriber ids, so one shared
  server (and one shared namespace) can serve the whole suite, and reruns do not collide.
- Every RPC has a deadline and every wait is bounded with ``asyncio.wait_for``: a broken plugin
  fails a test, it never hangs the run.
- The base classes are not named ``Test*``, so pytest only collects the plugin's subclasses.
  Those are marked ``asyncio`` automatically (so strict mode works too); set
  ``prism_loop_scope = "module"`` (or "session") when ``prism_channel`` lives on a wider loop.
  In strict mode the plugin's async ``prism_channel`` needs ``@pytest_asyncio.fixture``.

PubSub readiness rule: after calling Subscribe, the client awaits the call's initial metadata.
The server sends it once the subscription is active; every message published after that must
be delivered to the subscriber. (Without such a rule a test cannot know when it may publish,
and a backend like Kafka may take seconds to join a consumer group.)

Why our own kit rather than a library: the rules are Prism's contract, not a generic protocol,
and the kit must ship inside the prism-sdk wheel so third-party plugins test against exactly
the contract version they build on. pytest and pytest-asyncio are dependencies of this
subpackage only.
"""

from prism.sdk.testing._base import ConformanceBase, KeyValueConformanceBase
from prism.sdk.testing.keyvalue_basic import KeyValueBasicConformance
from prism.sdk.testing.keyvalue_scan import KeyValueScanConformance
from prism.sdk.testing.keyvalue_ttl import KeyValueTTLConformance
from prism.sdk.testing.multicast_registry import MulticastRegistryConformance
from prism.sdk.testing.pubsub_basic import PubSubBasicConformance
from prism.sdk.testing.serving import running_plugin

__all__ = [
    "ConformanceBase",
    "KeyValueBasicConformance",
    "KeyValueConformanceBase",
    "KeyValueScanConformance",
    "KeyValueTTLConformance",
    "MulticastRegistryConformance",
    "PubSubBasicConformance",
    "running_plugin",
]

"""prism-loadtest: the pattern-level load-testing tier (MEMO-013, "two-tier load testing").

What: drive a plugin's pattern object in process — the MemStore or Redis ``KeyValueStore``,
the Redis or Kafka ``PubSubBroker``, the multicast registry ``Coordinator`` — with no gRPC, proxy or network hop of ours in between,
to measure pattern logic and backends in isolation (the integration tier is ghz through the
proxy: ``tests/load/ghz/``). Run it as ``./prism-loadtest kv|pubsub|register|enumerate|
multicast|mixed ...`` from the repo root, ``python -m prism.loadtest ...`` or the PEX; see
docs/loadtest.md.

Why our own tool (not a library): the figures that matter here are custom — multicast delivery
rate per subscriber, end-to-end latency through a broker, get hit/miss — and the target is a
Python object, not an endpoint. The generator is open-loop (``runner``): operations start on a
schedule fixed by the load profile (``profiles``: constant, ramp, spike) and latency counts
from the *intended* start, so a slow backend shows up as latency, never as a politely lowered
rate (coordinated omission). One job per module: ``profiles`` (rates and start times),
``runner`` (the schedule, concurrency bound, stop), ``stats`` (HdrHistogram), ``kv`` /
``pubsub`` / ``registry`` (scenarios), ``backends`` (plugin by name), ``report`` (JSON, summary), ``cli``.
"""

from prism.loadtest.profiles import Profile, constant, ramp, spike
from prism.loadtest.runner import OpResult, Progress, Runner, RunResult, Scenario

__all__ = [
    "OpResult",
    "Profile",
    "Progress",
    "RunResult",
    "Runner",
    "Scenario",
    "constant",
    "ramp",
    "spike",
]

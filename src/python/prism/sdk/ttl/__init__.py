"""Key expiry for stores with no native TTL (MemStore uses it): ``TTLManager``.

``set(key, ttl)`` / ``remove`` / ``persist`` / ``remaining`` / ``expires_at`` / ``is_expired``
and an ``on_expire(key)`` callback, run by one background task per manager.

Design: bucketed deadlines. A dict key -> deadline is the truth; keys are appended (bare, no
tuple) to 10 ms buckets, and a small heap of bucket numbers orders the occupied buckets. ``set``
is one dict operation plus a list append; a bucket is consumed in a single pass once it is
complete (one ``dict.pop`` and one callback per key); re-set and removed keys leave stale
entries that are skipped when reached and compacted only when an exact stale count says they
outnumber live keys. The loop sleeps until the head bucket's end: one wake-up per occupied
bucket, none while idle. Keys expire at most one tick (plus event-loop latency) late, never
early; ``is_expired`` is exact at any time (callers treat a due key as gone). Callbacks run in
bucket order, in ``set`` order within a bucket; ``expire_due(now)`` expires exactly the keys
with deadline <= now, at most ``max_expirations_per_tick`` entries a batch, and the loop
yields to the event loop between batches, so a mass expiry never stalls other tasks.

Why not one ``loop.call_later`` per key: each key costs a ``TimerHandle`` plus a context copy,
a Python-level ``__lt__`` per comparison in asyncio's timer heap, and event-loop wake-ups at
the selector's 1 ms granularity. benchmarks/sdk/bench_ttl.py (same run, process CPU, GC off,
best of 3-5 interleaved runs, both callbacks delete the key from a dict store; 2-core machine
shared with other busy processes, so figures vary by ~+-30% between runs):

    keys   ttls    schedule   expire   total   peak memory   (call_later / TTLManager)
    10K    spread  3.4-3.6x   3.4x     3.6x    5.1x
    10K    fixed   3.4x       8.2x     4.9x    5.2x
    100K   spread  3.5x       6.1x     5.0x    3.4x
    100K   fixed   3.1x       6.6x     4.4x    3.4x
    1M     spread  2.6x       7.4x     4.9x    4.2x
    1M     fixed   3.5x       5.0x     4.1x    4.2x

It does not reach 10x, and cannot with a per-key ``set`` call: both sides pay a Python call
and a dict insert per key (scheduling is capped near 3.5x: ``set`` ~0.5-1 us vs ``call_later``
~3 us here), the same per-key callback and store delete, and each event-loop wake-up costs
~0.1 ms of CPU on a loaded machine (one per occupied 10 ms bucket for us). Even with a free
expiry phase, total CPU at 10K keys would only be ~10-12x.

Our own code because no maintained asyncio library offers a TTL index with callbacks;
``cachetools.TTLCache`` expires lazily on access, with no callback and no background expiry.
"""

from prism.sdk.ttl.manager import TTLManager

__all__ = ["TTLManager"]

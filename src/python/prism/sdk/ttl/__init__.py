"""Key expiry for stores with no native TTL (MemStore uses it): ``TTLManager``.

``set(key, ttl)`` / ``remove`` / ``persist`` / ``remaining`` / ``expires_at`` / ``is_expired``
and an ``on_expire(key)`` callback, run by one background task per manager.

Design: bucketed deadlines with a Redis-style split between exact reads and a coarse sweep.
A dict key -> deadline is the truth; keys are appended (bare, no tuple) to buckets of one
tick (``deadline // tick``), and a small heap of bucket numbers orders the occupied buckets.
``set`` is one clock read, one float op, a list append and one dict operation; a bucket is
consumed in a single pass once it is complete (one ``dict.pop`` and one callback per key);
re-set and removed keys leave stale entries that are skipped when reached and compacted only
when an exact stale count says they outnumber live keys. The loop sleeps until the head
bucket's end: one wake-up per occupied bucket, none while idle.

Trade-off (the default ``tick_interval=0.1``, like Redis's 10 Hz active expiry): reads are
exact — ``is_expired``/``remaining`` compare the deadline with the clock, so a due key is
gone for every caller at once (MemStore checks ``is_expired`` on every access) — while
``on_expire`` callbacks, which reclaim memory, run up to one tick (plus event-loop latency)
late, never early. A loop wake-up costs ~0.1-0.2 ms of CPU on these VMs, so a 10 ms tick
spent more CPU waking up (~45 wake-ups for TTLs over 50-500 ms) than expiring 10K keys; pass
a smaller ``tick_interval`` when callbacks must be punctual. Callbacks run in bucket order, in
``set`` order within a bucket; ``expire_due(now)`` expires exactly the keys with deadline <=
now, at most ``max_expirations_per_tick`` entries a batch, and the loop yields to the event
loop between batches, so a mass expiry never stalls other tasks.

Why not one ``loop.call_later`` per key: each key costs a ``TimerHandle`` plus a context copy,
a Python-level ``__lt__`` per comparison in asyncio's timer heap, and event-loop wake-ups at
the selector's 1 ms granularity. benchmarks/sdk/bench_ttl.py (same run, process CPU, GC off,
best of 3-5 interleaved runs, both callbacks delete the key from a dict store; 2-core machine
shared with other busy processes, load average 3-5, so figures vary between runs):

    keys   ttls    schedule   expire      total       peak memory   (call_later / TTLManager;
    10K    spread  4.3-7.8x   8.8-16.6x   7.7-10.4x   5.2x           10K: 5 runs, others: 2)
    10K    fixed   2.5-4.5x   5.7-12.7x   3.8-5.9x    5.2x
    100K   spread  3.4-3.5x   5.1-8.0x    4.1-5.7x    3.4x
    100K   fixed   3.3-4.5x   6.1-6.2x    4.5-5.2x    3.4x
    1M     spread  2.6-3.3x   9.5-9.6x    5.8-6.6x    4.2x
    1M     fixed   3.3-3.7x   5.2-6.2x    4.1-4.8x    4.2x

Last callback after scheduling (wall): 10K spread 0.55-0.60 s vs 0.50 s (one tick late at
most); from 100K keys call_later falls behind (1.7-2.2 s at 100K, 12-19 s at 1M) while the
sweep keeps up (0.6 s, 1.5-2.2 s). With the 10 ms tick the 10K totals were 3.3-5.4x.

10x total CPU is not reached stably; the floor is per key: both sides pay a Python call, a
clock read (~0.08 us here) and a dict insert to schedule, and the same callback and store
delete to expire, so ``set`` (~0.4 us vs ``call_later`` ~2.5 us) caps scheduling near 6x.
Ours costs ~0.6-1 us a key in all (set ~0.4, the shared callback ~0.2-0.4, ~0.2 ms a
wake-up); the fixed-TTL baseline costs only ~3.5-5.5 us (its timer heap stays ordered), so
that total stays near 4-6x. Only the spread workload, where call_later's heap costs ~6 us a
key to fire, passes 10x, and only on a quiet run.

Our own code because no maintained asyncio library offers a TTL index with callbacks;
``cachetools.TTLCache`` expires lazily on access, with no callback and no background expiry.
"""

from prism.sdk.ttl.manager import TTLManager

__all__ = ["TTLManager"]

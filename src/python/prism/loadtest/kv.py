"""The key-value scenario: a read/write mix over a fixed key space of a ``KeyValueStore``.

It drives the store object a plugin serves (``prism.sdk.patterns.KeyValueStore``) directly, so
the figures are the pattern logic plus the backend, without gRPC. Keys live in a namespace of
their own per run (``loadtest-<random>``): runs never see each other's data, and teardown
deletes what the run wrote. Keys are preloaded so reads hit (a miss is counted, not an error).
"""

from __future__ import annotations

import asyncio
import os
import random
import uuid
from typing import Any

from prism.loadtest.runner import Operation
from prism.sdk.patterns import KeyValueStore

__all__ = ["KvScenario"]

PRELOAD_BATCH = 256


class KvScenario:
    """``get`` with probability ``read_ratio``, else ``set`` of a ``value_size``-byte value."""

    def __init__(
        self,
        store: KeyValueStore,
        *,
        keys: int = 10_000,
        value_size: int = 64,
        read_ratio: float = 0.8,
        namespace: str | None = None,
        seed: int | None = None,
    ) -> None:
        if keys < 1 or value_size < 0 or not 0.0 <= read_ratio <= 1.0:
            raise ValueError("need keys >= 1, value_size >= 0 and 0 <= read_ratio <= 1")
        self.store, self.keys, self.read_ratio = store, keys, read_ratio
        self.namespace = namespace or f"loadtest-{uuid.uuid4().hex[:8]}"
        self.value = os.urandom(value_size)
        self.value_size = value_size
        self._random = random.Random(seed)
        self.hits = self.misses = 0

    def key(self, index: int) -> str:
        return f"k{index:08d}"

    async def setup(self) -> None:
        """Write every key once, in concurrent batches, so reads find a value."""
        for first in range(0, self.keys, PRELOAD_BATCH):
            last = min(first + PRELOAD_BATCH, self.keys)
            await asyncio.gather(
                *(
                    self.store.set(self.namespace, self.key(i), self.value, None, {})
                    for i in range(first, last)
                )
            )

    async def teardown(self) -> None:
        """Delete the run's keys (best effort: a failing backend must not hide the report)."""
        for first in range(0, self.keys, PRELOAD_BATCH):
            last = min(first + PRELOAD_BATCH, self.keys)
            await asyncio.gather(
                *(self.store.delete(self.namespace, self.key(i)) for i in range(first, last)),
                return_exceptions=True,
            )

    def next_op(self) -> tuple[str, Operation]:
        key = self.key(self._random.randrange(self.keys))
        if self._random.random() < self.read_ratio:

            async def get(_due: float) -> None:
                if await self.store.get(self.namespace, key) is None:
                    self.misses += 1
                else:
                    self.hits += 1

            return "get", get

        async def put(_due: float) -> None:
            await self.store.set(self.namespace, key, self.value, None, {})

        return "set", put

    def custom(self) -> dict[str, Any]:
        """Scenario figures for the report."""
        return {
            "namespace": self.namespace,
            "keys": self.keys,
            "value_size": self.value_size,
            "read_ratio": self.read_ratio,
            "get_hits": self.hits,
            "get_misses": self.misses,
        }

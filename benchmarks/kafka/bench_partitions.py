"""Benchmark: one topic's Publish throughput through the Kafka plugin's broker (acks=all,
idempotent producer) with 1 partition (the base) and with several, in the same run.

W tasks publish keyless messages (spread over the partitions by librdkafka's partitioner)
for D seconds per row; the ratio is publishes/s against the 1-partition row. Without
``--bootstrap`` a throw-away 3-broker cluster (``tools/kafka.sh cluster-start``: replication
factor 3, min.insync.replicas 2) is started and stopped after; run from the repo root.

    python bench_partitions.py [--bootstrap HOST:PORT,...] [--seconds D] [--workers W]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from prism.plugins.kafka import KafkaBroker, KafkaSettings

PARTITIONS = (1, 3, 6)


@contextmanager
def cluster() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="prism-bench-kafka-") as d:
        script = ["bash", "tools/kafka.sh"]
        out = subprocess.run([*script, "cluster-start", d], check=True, capture_output=True)
        try:
            yield out.stdout.decode().split()[-1]
        finally:
            subprocess.run([*script, "cluster-stop", d], check=False, capture_output=True)


async def publish_rate(bootstrap: str, partitions: int, seconds: float, workers: int) -> float:
    broker = KafkaBroker(KafkaSettings(bootstrap_servers=bootstrap, topic_partitions=partitions))
    await broker.start()
    topic = f"bench-{partitions}-{uuid.uuid4().hex[:8]}"
    try:
        for _ in range(50):  # warm up: topic created, leaders known, connections open
            await broker.publish("bench", topic, b"w", {})
        done = 0
        end = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < end:
                await broker.publish("bench", topic, b"x" * 100, {})
                done += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(workers)))
        return done / (time.perf_counter() - start)
    finally:
        await broker.close()


async def run(bootstrap: str, seconds: float, workers: int) -> None:
    print(f"publishes/s, {workers} concurrent publishers, {seconds:g} s per row")
    base = 0.0
    for partitions in PARTITIONS:
        rate = await publish_rate(bootstrap, partitions, seconds, workers)
        base = base or rate
        print(f"{partitions} partition(s): {rate:8.0f}/s  ratio {rate / base:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bootstrap", help="a running cluster (else one is started)")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=64)
    args = parser.parse_args()
    if args.bootstrap:
        asyncio.run(run(args.bootstrap, args.seconds, args.workers))
    else:
        with cluster() as bootstrap:
            asyncio.run(run(bootstrap, args.seconds, args.workers))


if __name__ == "__main__":
    main()

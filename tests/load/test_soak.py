"""CI's soak: one minute of load through `prism up` (Redis, MemStore and Kafka namespaces)
with the Redis plugin, a Kafka broker, the Kafka plugin and the Redis master of the namespace
killed in turn, against a real Redis Cluster (WAIT for 1 replica) and a real 3-broker Kafka
cluster: no acknowledged write may be lost."""

from __future__ import annotations

import json
from pathlib import Path

from soak.cli import main


def test_one_minute_soak_with_kills_loses_no_acknowledged_write(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    args = ["--duration", "60s", "--kill-every", "13s", "--progress-every", "5s"]
    code = main([*args, "--json", str(out), "--workdir", str(tmp_path / "gateway")])
    report = json.loads(out.read_text())
    events = report["events"]
    assert [ev["kind"] for ev in events] == [
        "plugin redis",
        "kafka broker",
        "plugin kafka",
        "redis master",
    ]
    assert all(ev["back_at"] is not None for ev in events), "every killed process came back"
    assert report["kv"]["kv"]["acked_sets"] > 0
    assert report["kv"]["mem"]["acked_sets"] > 0
    assert report["pubsub"]["acked"] > 0
    assert report["lost"] == 0, "every acked Set read back, every acked Publish consumed"
    assert report["unreadable"] == 0
    assert report["stale_reads"] == 0
    assert report["gateway_exit_code"] == 0, "the gateway shut down cleanly after the soak"
    assert code == 0

"""prism-loadtest's registry scenarios on this plugin in process (MemStore registry, in-process
messaging); the tool finds the plugin as the one serving a registry.

Real backends: test_multicast_loadtest_servers.py and tests/loadtest/test_launcher.py. Runs here last 1 s (the
memo's runs last 60 s; the figures do not matter here, the accounting does).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from loadtest.appendix_b import appendix_b_block

from prism.loadtest.cli import build_parser, main
from prism.loadtest.profiles import constant
from prism.loadtest.registry import RegistryScenario
from prism.loadtest.report import build_report, format_summary
from prism.loadtest.runner import Runner
from prism.plugins.memstore.messaging import InProcessMessaging
from prism.plugins.memstore.registry import MemStoreRegistry
from prism.sdk.patterns import Coordinator, Delivery, Outcome


def test_memo_flags_parse() -> None:
    args = build_parser().parse_args(
        ["register", "-r", "100", "-d", "60s", "--redis-addr", "localhost:6379"]
    )
    assert (args.rate, args.duration, args.redis_addr) == (100.0, 60.0, "localhost:6379")
    assert build_parser().parse_args(["mixed", "-d", "2m"]).duration == 120.0


def test_mixed_percentages_must_add_up_to_100(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["mixed", "--register-pct", "50", "--enumerate-pct", "30", "--multicast-pct", "30"])
    assert exc.value.code == 2
    assert "add up to 100" in capsys.readouterr().err


def test_cli_mixed_in_process(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "mixed.json"
    argv = ["mixed", "-r", "100", "-d", "1s", "--identities", "50", "--groups", "5"]
    assert main([*argv, "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["plugin"] == "multicast (memstore registry, inprocess messaging)"
    assert set(report["operations"]) == {"register", "enumerate", "multicast"}
    assert report["achieved"]["completed"] == report["target"]["ops"] == 100
    custom = report["custom"]
    assert custom["enumerated"] == 10 * custom["enumerate_calls"] > 0  # 50 identities / 5 groups
    delivery = custom["delivery"]
    assert delivery["counted_at"] == "receipt" and delivery["receivers"] == 50
    assert delivery["receivers_in"] == "generator process"  # in-process messaging
    assert delivery["targets"] == 10 * delivery["multicasts"] > 0
    assert delivery["delivered"] == delivery["targets"]
    assert delivery["failed"] == delivery["no_receiver"] == 0
    assert delivery["delivery_rate"] == 1.0
    assert delivery["latency_ms"]["max"] > 0
    summary = capsys.readouterr().out
    for op in ("register", "enumerate", "multicast"):
        appendix_b_block(summary, op)
    assert "  Delivery Rate:    100.00%" in summary.splitlines()


def test_cli_register_needs_no_messaging(tmp_path: Path) -> None:
    out = tmp_path / "register.json"
    assert main(["register", "-r", "50", "-d", "1s", "--quiet", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    settings = report["settings"]  # the plugin's settings, as for kv and pubsub runs
    assert (settings["registry"], settings["messaging"]) == ("memstore", "inprocess")
    assert report["operations"]["register"]["ok"] == 50
    assert report["custom"]["registered"] == 50
    assert "delivery" not in report["custom"]


class SaysDeliveredButDrops(InProcessMessaging):
    """A messaging slot that reports DELIVERED for a message no receiver ever gets
    (upstream's accounting: a publish counted as a delivery)."""

    async def deliver(
        self, namespace: str, identities: Sequence[str], message: Delivery
    ) -> list[Outcome]:
        return [Outcome.DELIVERED for _ in identities]


@pytest.fixture
async def lossy() -> AsyncIterator[Coordinator]:
    registry = MemStoreRegistry()
    await registry.start()
    try:
        yield Coordinator(registry, SaysDeliveredButDrops())
    finally:
        await registry.stop()


async def test_delivery_is_counted_at_receipt_not_at_the_slot(lossy: Coordinator) -> None:
    scenario = RegistryScenario(lossy, mix={"multicast": 1}, identities=20, groups=2)
    await scenario.setup()
    try:
        result = await Runner(constant(20, 0.5), scenario).run()
        await scenario.settle(0.2)
    finally:
        await scenario.teardown()
    report = build_report(
        result,
        scenario="multicast",
        plugin="x",
        command=[],
        concurrency=64,
        custom=scenario.custom(),
    )
    delivery = report["custom"]["delivery"]
    assert delivery["slot_delivered"] == delivery["targets"] == 10 * 10
    assert delivery["delivered"] == 0
    assert delivery["failed"] == delivery["targets"]
    assert delivery["delivery_rate"] == 0.0
    assert "  Delivery Rate:    0.00%" in format_summary(report).splitlines()

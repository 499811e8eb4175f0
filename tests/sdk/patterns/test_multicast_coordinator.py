"""The coordinator over recording fake slots: validation before any slot call, re-checked
filters, pages, and delivery accounting (unit level; the real slots run the conformance kit)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import pytest

from prism.interfaces import multicast_registry_pb2 as pb
from prism.sdk.errors import InvalidArgumentError, UnavailableError
from prism.sdk.limits import MAX_METADATA_ENTRIES
from prism.sdk.patterns import (
    Coordinator,
    Delivery,
    Filter,
    Outcome,
    Registered,
    multicast,
    parse_filter,
)

EVERYTHING = Filter()


class FakeRegistry:
    def __init__(self, entries: dict[str, dict[str, str]] | None = None) -> None:
        self.entries = dict(entries or {})
        self.calls: list[str] = []

    async def put(
        self, namespace: str, identity: str, metadata: Mapping[str, str], ttl_seconds: float
    ) -> bool:
        self.calls.append("put")
        created = identity not in self.entries
        self.entries[identity] = dict(metadata)
        return created

    async def delete(self, namespace: str, identity: str) -> bool:
        self.calls.append("delete")
        return self.entries.pop(identity, None) is not None

    async def get(self, namespace: str, identity: str) -> Registered | None:
        meta = self.entries.get(identity)
        return None if meta is None else Registered(identity, meta)

    async def scan(self, namespace: str, where: Filter) -> AsyncIterator[Registered]:
        # Deliberately no pre-filtering: the coordinator must re-check.
        self.calls.append("scan")
        for identity, meta in sorted(self.entries.items()):
            yield Registered(identity, meta)

    async def identities(
        self, namespace: str, key: str, values: Sequence[str]
    ) -> AsyncIterator[str]:
        self.calls.append("identities")
        for identity, meta in sorted(self.entries.items()):
            if meta.get(key) in values:
                yield identity


class FakeMessaging:
    def __init__(self, outcomes: dict[str, Outcome | Exception]) -> None:
        self.outcomes = outcomes
        self.sent: list[tuple[str, Delivery]] = []

    async def deliver(
        self, namespace: str, identities: Sequence[str], message: Delivery
    ) -> list[Outcome]:
        result = []
        for identity in identities:
            self.sent.append((identity, message))
            outcome = self.outcomes.get(identity, Outcome.NO_RECEIVER)
            if isinstance(outcome, Exception):
                raise outcome
            result.append(outcome)
        return result

    def receiver(self, namespace: str, identity: str) -> Any:
        raise AssertionError("not used")


@pytest.mark.parametrize(
    ("identity", "metadata", "ttl", "named"),
    [
        ("", {}, 0.0, "identity"),
        ("a\nb", {}, 0.0, "identity"),
        ("x" * 256, {}, 0.0, "identity"),
        ("ok", {f"k{i}": "v" for i in range(MAX_METADATA_ENTRIES + 1)}, 0.0, "metadata"),
        ("ok", {"": "v"}, 0.0, "metadata"),
        ("ok", {}, -1.0, "ttl_seconds"),
        ("ok", {}, float("nan"), "ttl_seconds"),
    ],
)
async def test_bad_register_never_reaches_the_slot(
    identity: str, metadata: dict[str, str], ttl: float, named: str
) -> None:
    registry = FakeRegistry()
    coordinator = Coordinator(registry, FakeMessaging({}))
    with pytest.raises(InvalidArgumentError, match=named):
        await coordinator.register("ns", identity, metadata, ttl)
    assert registry.calls == []


async def test_enumerate_rechecks_the_filter_and_pages() -> None:
    entries = {f"id{i:02}": {"even": str(i % 2 == 0)} for i in range(25)}
    coordinator = Coordinator(FakeRegistry(entries), FakeMessaging({}))
    where = parse_filter(
        pb.Filter(conditions=[pb.FilterCondition(key="even", op=pb.FILTER_OP_EQ, values=["True"])])
    )
    pages = [page async for page in coordinator.enumerate("ns", where, page_size=5)]
    assert [len(p) for p in pages] == [5, 5, 3]
    assert [e.identity for p in pages for e in p] == [f"id{i:02}" for i in range(0, 25, 2)]


async def test_multicast_accounts_each_outcome() -> None:
    entries: dict[str, dict[str, str]] = {name: {} for name in ("a", "b", "c", "d")}
    outcomes: dict[str, Outcome | Exception] = {"a": Outcome.DELIVERED, "b": Outcome.FAILED}
    messaging = FakeMessaging(outcomes)
    result = await Coordinator(FakeRegistry(entries), messaging).multicast(
        "ns", EVERYTHING, b"p", {"h": "1"}
    )
    assert (result.targeted, result.delivered, result.no_receiver, result.failed) == (4, 1, 2, 1)
    assert result.delivery_rate == 0.25
    messages = {m.message_id for _, m in messaging.sent}
    assert len(messages) == 1, "one message id per multicast"
    assert all(m.send_time_us > 0 and m.payload == b"p" for _, m in messaging.sent)


async def test_multicast_raises_when_every_delivery_errs() -> None:
    entries: dict[str, dict[str, str]] = {name: {} for name in ("a", "b")}
    down = {n: UnavailableError("messaging down") for n in entries}
    coordinator = Coordinator(FakeRegistry(entries), FakeMessaging(dict(down)))
    with pytest.raises(UnavailableError, match="messaging down"):
        await coordinator.multicast("ns", EVERYTHING, b"", {})


async def test_oversize_payload_is_rejected_before_fanout() -> None:
    messaging = FakeMessaging({})
    coordinator = Coordinator(FakeRegistry({"a": {}}), messaging)
    with pytest.raises(InvalidArgumentError, match="payload"):
        await coordinator.multicast("ns", EVERYTHING, b"x" * (256 * 1024 + 1), {})
    assert messaging.sent == []


async def test_a_failed_batch_counts_its_targets_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(multicast, "FANOUT_BATCH", 2)
    entries: dict[str, dict[str, str]] = {name: {} for name in ("a", "b", "c", "d", "e")}
    outcomes: dict[str, Outcome | Exception] = {
        "a": Outcome.DELIVERED,
        "b": Outcome.DELIVERED,
        "c": UnavailableError("down"),  # fails the batch [c, d]
        "e": Outcome.DELIVERED,
    }
    result = await Coordinator(FakeRegistry(entries), FakeMessaging(outcomes)).multicast(
        "ns", EVERYTHING, b"", {}
    )
    assert (result.targeted, result.delivered, result.no_receiver, result.failed) == (5, 3, 0, 2)


def eq(key: str, value: str) -> pb.FilterCondition:
    return pb.FilterCondition(key=key, op=pb.FILTER_OP_EQ, values=[value])


async def test_multicast_on_the_index_alone_when_it_answers_the_filter() -> None:
    entries = {"a": {"g": "1", "t": "x"}, "b": {"g": "1", "t": "y"}, "c": {"g": "2", "t": "x"}}
    registry = FakeRegistry(entries)
    messaging = FakeMessaging({})
    coordinator = Coordinator(registry, messaging)
    result = await coordinator.multicast(
        "ns", parse_filter(pb.Filter(conditions=[eq("g", "1")])), b"p", {}
    )
    assert (result.targeted, registry.calls) == (2, ["identities"])
    assert [who for who, _ in messaging.sent] == ["a", "b"]
    registry.calls.clear()
    both = parse_filter(pb.Filter(conditions=[eq("g", "1"), eq("t", "x")]))
    result = await coordinator.multicast("ns", both, b"p", {})
    assert (result.targeted, registry.calls) == (1, ["scan"]), "two keys: read and re-checked"

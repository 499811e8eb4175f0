"""OffsetTracker: a commit never passes a delivered message the client has not acked."""

from __future__ import annotations

from prism.plugins.kafka.offsets import OffsetTracker


def tracker(*delivered: tuple[int, int]) -> OffsetTracker:
    offsets = OffsetTracker()
    for partition, offset in delivered:
        offsets.delivered(partition, offset)
    return offsets


def test_out_of_order_acks_commit_only_the_acked_prefix() -> None:
    offsets = tracker(*((0, o) for o in range(5)))
    for o in (1, 3, 4):
        offsets.ack(0, o)
    assert offsets.committable() == {}, "0 is not acked: nothing may be committed"
    offsets.ack(0, 0)
    assert offsets.committable() == {0: 2}, "0 and 1 done; 2 is not"
    assert offsets.committable() == {}, "nothing new"
    offsets.ack(0, 2)
    assert offsets.committable() == {0: 5}


def test_gaps_in_offsets_commit_past_the_last_acked_message() -> None:
    offsets = tracker((0, 10), (0, 13), (0, 20))  # compaction or control records between
    offsets.ack(0, 13)
    offsets.ack(0, 10)
    assert offsets.committable() == {0: 14}
    offsets.ack(0, 20)
    assert offsets.committable() == {0: 21}


def test_partitions_are_independent() -> None:
    offsets = tracker((0, 0), (1, 0), (0, 1), (1, 1), (2, 7))
    offsets.ack(1, 0)
    offsets.ack(0, 1)
    offsets.ack(2, 7)
    assert offsets.committable() == {1: 1, 2: 8}, "partition 0 waits for its offset 0"
    offsets.ack(0, 0)
    assert offsets.committable() == {0: 2}


def test_unknown_repeated_and_forgotten_acks_commit_nothing() -> None:
    offsets = tracker((0, 5), (1, 5))
    offsets.ack(0, 4)  # never delivered
    offsets.ack(3, 5)  # a partition never seen
    assert offsets.committable() == {}
    offsets.ack(0, 5)
    assert offsets.committable() == {0: 6}
    offsets.ack(0, 5)  # committed already
    assert offsets.committable() == {}
    offsets.forget([1])  # revoked: its next owner delivers it again
    offsets.ack(1, 5)
    assert offsets.committable() == {}
    offsets.delivered(1, 5)  # assigned back, fetched again
    offsets.ack(1, 5)
    assert offsets.committable() == {1: 6}

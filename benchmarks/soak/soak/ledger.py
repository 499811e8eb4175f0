"""What the soak wrote and was told: the facts "0 acknowledged writes lost" is checked against.

A key is written by one call at a time, so its last acknowledged value is well defined. A
failed Set may still have been applied (the reply was lost, not the write), so a key may also
read as any value written after its last acknowledged one: that is not a loss. Reading an
older value, another value, or nothing is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["KvLedger", "PubLedger", "decode", "encode"]

_SEQ_DIGITS = 12


def encode(seq: int, size: int) -> bytes:
    """A value carrying its sequence number, padded to ``size`` bytes."""
    head = f"{seq:0{_SEQ_DIGITS}d}".encode()
    return head + b"x" * max(0, size - len(head))


def decode(value: bytes) -> int | None:
    """The sequence number ``encode`` put in ``value``; None if it is not one of ours."""
    head = value[:_SEQ_DIGITS]
    return int(head) if len(head) == _SEQ_DIGITS and head.isdigit() else None


@dataclass
class _Key:
    acked: int | None = None  # seq of the last acknowledged Set
    unsure: set[int] = field(default_factory=set)  # failed Sets after it (may have applied)
    busy: bool = False


class KvLedger:
    """Keys ``prefix0..prefixN-1``; ``claim`` hands out a key no other call is using."""

    def __init__(self, prefix: str, keys: int) -> None:
        self.prefix = prefix
        self._keys = [_Key() for _ in range(keys)]
        self._next_key = 0
        self._seq = 0

    def key(self, index: int) -> str:
        return f"{self.prefix}{index}"

    def claim(self, *, acked_only: bool = False) -> int | None:
        """Index of a free key (round robin), marked busy; None when every key is busy.

        ``acked_only``: only a key with an acknowledged value (to read it back)."""
        n = len(self._keys)
        for step in range(n):
            index = (self._next_key + step) % n
            entry = self._keys[index]
            if not entry.busy and (entry.acked is not None or not acked_only):
                entry.busy = True
                self._next_key = (index + 1) % n
                return index
        return None

    def release(self, index: int) -> None:
        self._keys[index].busy = False

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def record_set(self, index: int, seq: int, ok: bool) -> None:
        """The outcome of a Set of ``seq``; releases the key."""
        entry = self._keys[index]
        if ok:
            entry.acked = seq
            entry.unsure.clear()
        else:
            entry.unsure.add(seq)
        entry.busy = False

    def written(self) -> list[int]:
        """Indexes of keys with an acknowledged value."""
        return [i for i, entry in enumerate(self._keys) if entry.acked is not None]

    def holds(self, index: int, value: bytes | None) -> bool:
        """Whether ``value`` (None: not found) read from key ``index`` keeps its last
        acknowledged write: that value, or one of a later failed (maybe applied) Set."""
        entry = self._keys[index]
        if entry.acked is None:
            return value is None or decode(value) in entry.unsure
        if value is None:
            return False
        seq = decode(value)
        return seq == entry.acked or seq in entry.unsure


class PubLedger:
    """Published sequence numbers by outcome, and what the consumer received (with repeats)."""

    def __init__(self) -> None:
        self.acked: set[int] = set()
        self.failed: set[int] = set()
        self.received: set[int] = set()
        self.deliveries = 0
        self._seq = 0

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def record_publish(self, seq: int, ok: bool) -> None:
        (self.acked if ok else self.failed).add(seq)

    def record_delivery(self, seq: int) -> None:
        self.deliveries += 1
        self.received.add(seq)

    def missing(self) -> set[int]:
        """Acknowledged publishes the consumer has not received (yet)."""
        return self.acked - self.received

    @property
    def duplicates(self) -> int:
        return self.deliveries - len(self.received)

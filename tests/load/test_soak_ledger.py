"""The soak's bookkeeping: what counts as a lost write, and what a kill's window reports."""

from __future__ import annotations

from soak.ledger import KvLedger, PubLedger, decode, encode
from soak.outcomes import OK, Outcomes


def test_a_value_carries_its_sequence_number() -> None:
    value = encode(42, 64)
    assert len(value) == 64
    assert decode(value) == 42
    assert decode(b"someone else's") is None


def test_a_key_holds_its_last_acknowledged_value_or_a_later_unsure_one() -> None:
    ledger = KvLedger("k/", keys=1)
    index = ledger.claim()
    assert index == 0
    assert ledger.claim() is None, "a key is used by one call at a time"
    ledger.record_set(0, 1, ok=True)
    ledger.claim()
    ledger.record_set(0, 2, ok=False)  # failed: may or may not have been applied
    assert ledger.holds(0, encode(1, 16))
    assert ledger.holds(0, encode(2, 16))
    ledger.claim()
    ledger.record_set(0, 3, ok=True)
    assert ledger.holds(0, encode(3, 16))
    assert not ledger.holds(0, encode(2, 16)), "older than the last acknowledged write"
    assert not ledger.holds(0, encode(1, 16))
    assert not ledger.holds(0, None), "gone"


def test_reads_only_claim_keys_that_were_written() -> None:
    ledger = KvLedger("k/", keys=3)
    assert ledger.claim(acked_only=True) is None
    index = ledger.claim()
    assert index is not None
    ledger.record_set(index, ledger.next_seq(), ok=True)
    assert ledger.claim(acked_only=True) == index
    assert ledger.written() == [index]


def test_a_publish_is_lost_when_acknowledged_and_never_consumed() -> None:
    ledger = PubLedger()
    for ok in (True, True, False):
        ledger.record_publish(ledger.next_seq(), ok)
    ledger.record_delivery(1)
    ledger.record_delivery(1)
    ledger.record_delivery(3)  # a failed publish may still arrive: not a loss, not a gain
    assert ledger.missing() == {2}
    assert ledger.duplicates == 1


def test_a_window_counts_errors_and_the_time_until_each_stream_succeeds_again() -> None:
    out = Outcomes()
    out.record(9.0, "kv", "UNAVAILABLE")  # before the window
    out.record(10.1, "kv", "UNAVAILABLE")
    out.record(10.2, "mem", OK)  # another stream's success does not end kv's outage
    out.record(10.4, "kv", "DEADLINE_EXCEEDED")
    out.record(10.5, "publish", "UNAVAILABLE")
    out.record(10.6, "publish", OK)
    out.record(10.9, "kv", OK)
    window = out.window(10.0, 20.0)
    assert window.errors == {
        "kv": {"DEADLINE_EXCEEDED": 1, "UNAVAILABLE": 1},
        "publish": {"UNAVAILABLE": 1},
    }
    assert window.recovered_after.keys() == {"kv", "publish"}
    assert abs((window.recovered_after["kv"] or 0) - 0.9) < 1e-9
    assert abs((window.recovered_after["publish"] or 0) - 0.6) < 1e-9
    assert out.window(11.0, 20.0).recovered_after == {}, "no failures: nothing to recover"
    out.record(19.0, "kv", "UNAVAILABLE")
    assert out.window(11.0, 20.0).recovered_after == {"kv": None}, "never succeeded again"

"""Profile math: target rates at given times and the schedule of intended start times."""

from __future__ import annotations

import pytest

from prism.loadtest.profiles import constant, ramp, spike


def test_constant_rate_and_schedule() -> None:
    p = constant(100, 2.0)
    assert [p.rate_at(t) for t in (0.0, 1.0, 1.99, 2.0, -1.0)] == [100, 100, 100, 0, 0]
    assert p.expected_ops() == pytest.approx(200)
    times = list(p.schedule())
    assert len(times) == 200
    assert times[0] == 0.0
    assert times[1] == pytest.approx(0.01)
    assert times[-1] == pytest.approx(1.99)


def test_ramp_rate_is_linear_and_schedule_denser_at_the_end() -> None:
    p = ramp(0, 200, 2.0)
    assert p.rate_at(0.0) == 0
    assert p.rate_at(1.0) == pytest.approx(100)
    assert p.rate_at(1.5) == pytest.approx(150)
    assert p.expected_ops() == pytest.approx(200)  # mean rate 100 over 2 s
    assert p.expected_ops(1.0) == pytest.approx(50)  # a quarter of the ops in the first half
    times = list(p.schedule())
    assert len(times) == 200
    assert sum(1 for t in times if t < 1.0) == 50
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert gaps[5] > gaps[-5]  # slower at the start, faster at the end
    assert times == sorted(times)


def test_ramp_between_two_nonzero_rates() -> None:
    p = ramp(50, 150, 4.0)
    assert p.rate_at(2.0) == pytest.approx(100)
    assert len(list(p.schedule())) == 400


def test_spike_rates_before_during_after() -> None:
    p = spike(100, 1000, at=1.0, length=0.5, duration=3.0)
    assert p.rate_at(0.5) == 100
    assert p.rate_at(1.0) == 1000
    assert p.rate_at(1.49) == 1000
    assert p.rate_at(1.5) == 100
    assert p.rate_at(2.9) == 100
    assert p.expected_ops() == pytest.approx(100 * 2.5 + 1000 * 0.5)
    times = list(p.schedule())
    assert len(times) == 750
    assert sum(1 for t in times if 1.0 <= t < 1.5) == 500
    assert times == sorted(times)
    assert p.params == {"rate": 100, "spike_rate": 1000, "spike_at": 1.0, "spike_for": 0.5}


def test_spike_is_clipped_to_the_run() -> None:
    p = spike(10, 100, at=1.5, length=5.0, duration=2.0)
    assert p.duration == 2.0
    assert p.expected_ops() == pytest.approx(15 + 50)


@pytest.mark.parametrize(
    "make",
    [
        lambda: constant(-1, 1),
        lambda: constant(10, 0),
        lambda: ramp(0, float("nan"), 1),
        lambda: spike(10, 100, at=5, length=1, duration=2),
        lambda: spike(10, 100, at=0, length=0, duration=2),
    ],
)
def test_invalid_profiles_are_rejected(make: object) -> None:
    with pytest.raises(ValueError):
        make()  # type: ignore[operator]

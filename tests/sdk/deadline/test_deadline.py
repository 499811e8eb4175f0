"""Deadline propagation through contextvars."""

from __future__ import annotations

import asyncio
import time

import pytest

from prism.sdk.deadline import check_deadline, current_deadline, deadline_scope, time_remaining
from prism.sdk.errors import DeadlineExceededError


def test_no_deadline_by_default() -> None:
    assert current_deadline() is None
    assert time_remaining() is None
    check_deadline()  # does not raise


def test_scope_sets_and_restores_deadline() -> None:
    before = time.monotonic()
    with deadline_scope(30.0) as deadline:
        assert deadline is not None
        assert current_deadline() == deadline
        assert before + 30.0 <= deadline <= time.monotonic() + 30.0
        remaining = time_remaining()
        assert remaining is not None and 0 < remaining <= 30.0
        check_deadline()
    assert current_deadline() is None


def test_nested_scopes_keep_the_earliest_deadline() -> None:
    with deadline_scope(10.0) as outer:
        with deadline_scope(100.0) as inner:
            assert inner == outer  # cannot extend
        with deadline_scope(1.0) as shorter:
            assert shorter is not None and outer is not None and shorter < outer
            assert current_deadline() == shorter
        assert current_deadline() == outer


def test_none_timeout_keeps_outer_deadline() -> None:
    with deadline_scope(None) as unbounded:
        assert unbounded is None and current_deadline() is None
    with deadline_scope(10.0) as outer, deadline_scope(None) as inner:
        assert inner == outer


def test_passed_deadline_raises_and_remaining_is_zero() -> None:
    with deadline_scope(-1.0):
        assert time_remaining() == 0.0
        with pytest.raises(DeadlineExceededError, match="deadline exceeded"):
            check_deadline()
    with deadline_scope(0.0), pytest.raises(DeadlineExceededError):
        check_deadline()


def test_scope_restored_after_exception() -> None:
    with pytest.raises(RuntimeError), deadline_scope(5.0):
        raise RuntimeError
    assert current_deadline() is None


async def test_deadline_follows_spawned_tasks_but_not_siblings() -> None:
    seen: dict[str, float | None] = {}

    async def child(label: str) -> None:
        seen[label] = current_deadline()

    async def request() -> None:
        with deadline_scope(20.0) as deadline:
            await asyncio.create_task(child("inside"))
            seen["expected"] = deadline

    await asyncio.gather(request(), child("sibling"))
    assert seen["inside"] == seen["expected"] is not None
    assert seen["sibling"] is None

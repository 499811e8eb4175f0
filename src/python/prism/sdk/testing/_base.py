"""The base every conformance class shares: the namespace fixture, timing knobs, asyncio mark."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from prism.sdk.testing._clients import KVClient


def _marks_of(obj: object) -> list[Any]:
    marks = obj.__dict__.get("pytestmark", []) if hasattr(obj, "__dict__") else []
    return list(marks) if isinstance(marks, list | tuple) else [marks]


def _has_asyncio_mark(cls: type) -> bool:
    return any(
        getattr(mark, "name", None) == "asyncio"
        for klass in cls.__mro__
        for mark in _marks_of(klass)
    )


class ConformanceBase:
    """Timing knobs and fixtures common to every conformance class.

    A subclass must make a ``prism_channel`` fixture available (a ``grpc.aio.Channel`` to the
    server under test) — as a method of the subclass or in a conftest.py. The kit deliberately
    defines no default for it: a class-level default would shadow a conftest.py fixture.

    Override the class attributes below for slow backends. Every RPC and every wait is bounded
    by them, so a broken plugin fails the test instead of hanging the run.
    """

    #: Deadline of each unary RPC and bound on each scan (seconds).
    rpc_timeout_seconds: ClassVar[float] = 10.0
    #: The short TTL used by expiry tests (seconds).
    ttl_seconds: ClassVar[float] = 0.4
    #: How late after its deadline an expired key may still be visible (seconds).
    ttl_grace_seconds: ClassVar[float] = 1.0
    #: How often expiry is polled within the grace period (seconds).
    poll_interval_seconds: ClassVar[float] = 0.05
    #: How long a subscription may take to become ready, and each message to arrive (seconds).
    message_timeout_seconds: ClassVar[float] = 15.0
    #: How long to watch for messages that must NOT arrive (seconds).
    quiet_period_seconds: ClassVar[float] = 0.5
    #: Messages published per ordering / fan-out test.
    message_count: ClassVar[int] = 5
    #: pytest-asyncio loop scope for the tests ("module", "session", ...) when the subclass's
    #: ``prism_channel`` fixture lives on a wider loop; None = pytest-asyncio's default.
    prism_loop_scope: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Mark subclasses ``asyncio`` so the tests also run under pytest-asyncio strict mode.

        The mark is added to the subclass (not to this base) because the mark nearest the base
        wins: a base mark would override a ``loop_scope`` the plugin's own class asks for.
        """
        super().__init_subclass__(**kwargs)
        # Only classes pytest collects (Test*): marking the kit's own or a plugin's intermediate
        # classes would pin the loop scope before the collected class can choose it.
        if not cls.__name__.startswith("Test") or _has_asyncio_mark(cls):
            return
        mark = (
            pytest.mark.asyncio(loop_scope=cls.prism_loop_scope)
            if cls.prism_loop_scope
            else pytest.mark.asyncio
        )
        cls.pytestmark = [*_marks_of(cls), mark]  # type: ignore[attr-defined]

    @pytest.fixture
    def prism_namespace(self) -> str:
        """The namespace every request uses; override for servers that serve another one."""
        return "conformance"


class KeyValueConformanceBase(ConformanceBase):
    """Adds the ``prism_kv`` client fixture shared by the key-value conformance classes."""

    @pytest.fixture
    def prism_kv(self, prism_channel: Any, prism_namespace: str) -> KVClient:
        """A client bound to the namespace under test (sync: works in any asyncio mode)."""
        return KVClient(prism_channel, prism_namespace, self.rpc_timeout_seconds)

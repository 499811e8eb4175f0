"""Real NATS servers for tests, started through tools/nats.sh (Debian's nats-server).

``with nats_server() as n:`` starts one of our own (``n.url``, ``n.stop()``, ``n.start()``
brings it back on the same port); ``shared_nats()`` reuses ``PRISM_TEST_NATS_URL`` when set.
A server that cannot be installed or started raises ``ServerError`` (never a skip).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ClassVar

from services.servers import StartedServer

__all__ = ["NatsServer", "nats_server", "shared_nats"]


@dataclass
class NatsServer(StartedServer):
    """A nats-server with JetStream."""

    script: ClassVar[str] = "nats.sh"
    kind: ClassVar[str] = "NATS"

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"


@contextmanager
def nats_server() -> Iterator[NatsServer]:
    with NatsServer.own() as server:
        yield server


@contextmanager
def shared_nats() -> Iterator[NatsServer]:
    with NatsServer.shared("PRISM_TEST_NATS_URL") as server:
        yield server

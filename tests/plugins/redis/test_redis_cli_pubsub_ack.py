"""``prism pubsub subscribe`` acknowledges what it printed, through the proxy to the Redis plugin:
``--count N`` acknowledges exactly N, so the same subscriber id resumes with the rest."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from prism.cli.main import main
from prism.plugins.redis import RedisPlugin, RedisSettings
from prism.proxy import ProxyServer, parse_config
from prism.sdk.config import load_settings
from prism.sdk.testing import running_plugin
from services.servers import shared_redis


@pytest.fixture(scope="module")
def addr() -> Iterator[str]:
    """The proxy's address; namespace ``default`` is a Redis plugin on a real Redis."""
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def serve(redis_addr: str) -> None:
        overrides = {"port": 0, "addr": redis_addr}
        plugin = RedisPlugin(load_settings(RedisSettings, environ={}, overrides=overrides))
        async with running_plugin(plugin) as endpoint:
            config = {"port": 0, "namespaces": {"default": {"endpoint": endpoint}}}
            proxy = ProxyServer(parse_config(config))
            await proxy.start()
            holder["addr"] = proxy.address
            holder["stop"] = asyncio.Event()
            holder["loop"] = asyncio.get_running_loop()
            ready.set()
            await holder["stop"].wait()
            await proxy.stop(0.5)

    with shared_redis() as server:
        thread = threading.Thread(target=asyncio.run, args=(serve(server.addr),), daemon=True)
        thread.start()
        assert ready.wait(60)
        yield holder["addr"]
        holder["loop"].call_soon_threadsafe(holder["stop"].set)
        thread.join(10)


PAD = 16 * 1024


def cli(*argv: str) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    return int(exit_info.value.code or 0)


def received(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().out.splitlines() if line.startswith("m")]


def test_count_acknowledges_exactly_n(addr: str, capsys: pytest.CaptureFixture[str]) -> None:
    topic, subscriber = f"cli-{uuid.uuid4().hex[:8]}", f"sub-{uuid.uuid4().hex[:8]}"
    subscribe = ("pubsub", "subscribe", "--addr", addr, topic, "--subscriber", subscriber)
    assert cli(*subscribe, "--for", "1") == 0  # joins: the subscriber id exists from here on
    pad = "." * PAD  # bigger messages: more bytes in flight past the 10th
    for i in range(20):
        assert cli("pubsub", "publish", "--addr", addr, topic, f"m{i} {pad}") == 0
    capsys.readouterr()
    assert cli(*subscribe, "--count", "10", "--for", "20") == 0
    assert received(capsys) == [f"m{i} {pad}" for i in range(10)]
    # The first run may have had more than 10 in flight; only the 10 it printed were acked.
    assert cli(*subscribe, "--count", "10", "--for", "20") == 0
    assert received(capsys) == [f"m{i} {pad}" for i in range(10, 20)]
    assert cli(*subscribe, "--for", "2") == 0
    assert received(capsys) == [], "all 20 were acknowledged"


def test_auto_ack_is_at_most_once(addr: str, capsys: pytest.CaptureFixture[str]) -> None:
    topic, subscriber = f"cli-{uuid.uuid4().hex[:8]}", f"sub-{uuid.uuid4().hex[:8]}"
    subscribe = ("pubsub", "subscribe", "--addr", addr, topic, "--subscriber", subscriber)
    assert cli(*subscribe, "--for", "1") == 0
    for i in range(3):
        assert cli("pubsub", "publish", "--addr", addr, topic, f"m{i}") == 0
    capsys.readouterr()
    assert cli(*subscribe, "--auto-ack", "--for", "2") == 0
    assert received(capsys) == ["m0", "m1", "m2"]
    assert cli(*subscribe, "--for", "2") == 0
    assert received(capsys) == [], "AUTO mode acknowledged what was sent"

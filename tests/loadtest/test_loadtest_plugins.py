"""prism-loadtest finds plugins by name (no list) and asks them for their objects (no getattr)."""

from __future__ import annotations

import pytest

from prism.loadtest.backends import open_kv, open_pubsub
from prism.loadtest.cli import build_parser, main


async def test_kv_opens_the_store_a_plugin_declares() -> None:
    async with open_kv("memstore", {"max_keys": "7"}) as opened:
        assert opened.settings["max_keys"] == 7  # --set reaches the plugin's settings
        assert await opened.target.set("ns", "k", b"v", None, {})  # type: ignore[attr-defined]


async def test_a_plugin_without_that_pattern_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="plugin 'memstore' serves no pub/sub broker"):
        async with open_pubsub("memstore"):
            pass


def test_a_plugin_without_that_pattern_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pubsub", "--plugin", "memstore", "-d", "1s", "--quiet"]) == 2
    assert "plugin 'memstore' serves no pub/sub broker" in capsys.readouterr().err


def test_an_unknown_plugin_exits_2_naming_the_plugins_found(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["kv", "--plugin", "nosuchplugin", "-d", "1s", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "no plugin 'nosuchplugin'" in err and "memstore" in err


def test_set_takes_key_value_pairs() -> None:
    args = build_parser().parse_args(["kv", "--plugin", "x", "--set", "a=1", "--set", "b=c=d"])
    assert args.settings == [("a", "1"), ("b", "c=d")]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["kv", "--plugin", "x", "--set", "novalue"])


@pytest.mark.parametrize(
    "command", [None, "kv", "pubsub", "register", "enumerate", "multicast", "mixed"]
)
def test_every_help_prints_and_exits_0(
    command: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--help"] if command is None else [command, "--help"]
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(argv)
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "usage:" in out
    if command == "mixed":
        assert "% register (50)" in out  # the percent sign printed, not read as a format

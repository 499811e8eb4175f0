"""The ``prism`` client commands against a running gateway (``prism up`` with no config)."""

from __future__ import annotations

from pathlib import Path

import pytest

from prism.cli.main import main
from proxy.gateway import Gateway


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(list(argv))
    out, err = capsys.readouterr()
    code = info.value.code
    return (code if isinstance(code, int) else 1), out, err


def test_kv_round_trip(gateway: Gateway, capsys: pytest.CaptureFixture[str]) -> None:
    a = ("--addr", gateway.addr)
    assert run(capsys, "kv", "set", *a, "greeting", "hello", "--tag", "lang=en")[:2] == (
        0,
        "created\n",
    )
    assert run(capsys, "kv", "set", *a, "greeting", "hello!")[:2] == (0, "updated\n")
    assert run(capsys, "kv", "get", *a, "greeting")[:2] == (0, "hello!\n")
    assert run(capsys, "kv", "exists", *a, "greeting")[:2] == (0, "true\n")
    assert run(capsys, "kv", "expire", *a, "greeting", "60")[0] == 0
    code, out, _ = run(capsys, "kv", "ttl", *a, "greeting")
    assert code == 0 and 0 < float(out) <= 60
    assert run(capsys, "kv", "persist", *a, "greeting")[:2] == (0, "persisted\n")
    assert run(capsys, "kv", "ttl", *a, "greeting")[:2] == (0, "no ttl\n")
    assert run(capsys, "kv", "delete", *a, "greeting")[:2] == (0, "deleted\n")
    assert run(capsys, "kv", "delete", *a, "greeting")[:2] == (0, "not found\n")
    assert run(capsys, "kv", "exists", *a, "greeting")[:2] == (0, "false\n")


def test_kv_set_with_ttl_and_tags(gateway: Gateway, capsys: pytest.CaptureFixture[str]) -> None:
    a = ("--addr", gateway.addr)
    run(capsys, "kv", "set", *a, "tagged", "v", "--ttl", "30", "--tag", "a=1", "--tag", "b=2")
    assert run(capsys, "kv", "get", *a, "tagged", "--tags")[1] == "v\na=1\nb=2\n"
    code, _, err = run(capsys, "kv", "set", *a, "x", "v", "--tag", "novalue")
    assert code == 1 and "KEY=VALUE" in err


def test_scan_and_count(gateway: Gateway, capsys: pytest.CaptureFixture[str]) -> None:
    a = ("--addr", gateway.addr)
    for i in range(3):
        run(capsys, "kv", "set", *a, f"user/{i}", f"u{i}")
    assert run(capsys, "kv", "scan", *a, "user/")[1] == "user/0\tu0\nuser/1\tu1\nuser/2\tu2\n"
    code, out, err = run(capsys, "kv", "scan", *a, "user/", "--keys-only", "--limit", "2")
    assert (code, out) == (0, "user/0\nuser/1\n") and "next cursor" in err
    assert run(capsys, "kv", "count", *a, "user/")[:2] == (0, "3\n")


def test_errors_show_status_and_exit_non_zero(
    gateway: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    a = ("--addr", gateway.addr)
    code, out, err = run(capsys, "kv", "get", *a, "missing-key")
    assert code == 1 and out == ""
    assert err.startswith("error: NOT_FOUND: key 'missing-key' not found")
    code, _, err = run(capsys, "kv", "get", *a, "-n", "elsewhere", "k")
    assert code == 1 and "NOT_FOUND" in err and "'elsewhere'" in err
    code, _, err = run(capsys, "kv", "set", *a, "", "v")
    assert code == 1 and "INVALID_ARGUMENT" in err
    code, _, err = run(capsys, "pubsub", "publish", *a, "topic", "hi")
    assert code == 1 and "UNIMPLEMENTED" in err


def test_unreachable_gateway(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "kv", "get", "--addr", "127.0.0.1:1", "--timeout", "2", "k")
    assert code == 1 and "UNAVAILABLE" in err and "prism up" in err


def test_health(gateway: Gateway, capsys: pytest.CaptureFixture[str]) -> None:
    a = ("--addr", gateway.addr)
    assert run(capsys, "health", *a)[:2] == (0, "gateway: SERVING\n")
    assert run(capsys, "health", *a, "-n", "default")[:2] == (0, "namespace default: SERVING\n")
    code, _, err = run(capsys, "health", *a, "-n", "nope")
    assert code == 1 and "'nope' is not known" in err


def test_up_with_bad_config_names_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "prism.yaml"
    path.write_text("namespaces:\n  a:\n    plugin: memstore\n    colour: red\n")
    code, _, err = run(capsys, "up", "--config", str(path))
    assert code == 2 and f"{path}:4: namespaces.a.colour" in err


def test_serve_unknown_plugin(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "serve", "nosuchplugin")
    assert code == 2 and "no plugin 'nosuchplugin' (plugins found: " in err and "memstore" in err

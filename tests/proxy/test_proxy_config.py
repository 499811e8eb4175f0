from __future__ import annotations

from pathlib import Path

import pytest

from prism.proxy import (
    ProxyConfigError,
    default_config,
    load_config,
    parse_config_text,
    with_plugin_settings,
)


def test_default_config_is_memstore_on_8980() -> None:
    cfg = default_config()
    assert (cfg.host, cfg.port) == ("127.0.0.1", 8980)
    assert cfg.routes == {"default": "default"}
    assert cfg.instances["default"].module == "prism.plugins.memstore"


def test_full_config_resolves_instances_and_sharing() -> None:
    cfg = parse_config_text(
        """
port: 9999
namespaces:
  a: {plugin: memstore}
  b: {plugin: memstore}
  c: {plugin: memstore, settings: {max_keys: 10, flag: true}, env: {X: "1"}}
  d: {instance: shared}
  e: {endpoint: "127.0.0.1:7000"}
instances:
  shared: {module: prism.plugins.memstore}
  unused: {plugin: memstore}
supervision: {health_interval: 250ms}
"""
    )
    assert cfg.port == 9999
    assert cfg.routes == {"a": "a", "b": "a", "c": "c", "d": "shared", "e": "e"}
    assert set(cfg.instances) == {"a", "c", "shared", "e"}
    assert cfg.instances["c"].settings == {"max_keys": "10", "flag": "true"}
    assert cfg.instances["c"].env == {"X": "1"}
    assert cfg.instances["e"].endpoint == "127.0.0.1:7000" and not cfg.instances["e"].managed
    assert cfg.supervision.health_interval == 0.25


def _problems(text: str, tmp_path: Path) -> str:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ProxyConfigError) as info:
        load_config(path)
    return str(info.value)


def test_errors_name_file_line_and_field(tmp_path: Path) -> None:
    msg = _problems(
        """namespaces:
  ok:
    plugin: memstore
  two:
    plugin: memstore
    endpoint: "127.0.0.1:1"
  typo:
    plugn: memstore
supervision:
  health_interval: soon
""",
        tmp_path,
    )
    path = tmp_path / "bad.yaml"
    assert f"{path}:4: namespaces.two: give only one of" in msg
    assert f"{path}:8: namespaces.typo.plugn: Extra inputs are not permitted" in msg
    assert f"{path}:10: supervision.health_interval:" in msg


def test_unknown_plugin_and_instance_are_reported_with_lines(tmp_path: Path) -> None:
    msg = _problems(
        "namespaces:\n  a:\n    plugin: nosuchplugin\n  b:\n    instance: ghost\n", tmp_path
    )
    assert ":3: namespaces.a.plugin: 'nosuchplugin' not found (plugins found: " in msg
    assert "memstore" in msg  # the plugins discovered, so a typo is easy to see
    assert ":5: namespaces.b.instance: no instance named 'ghost'" in msg


def test_yaml_syntax_error_has_line(tmp_path: Path) -> None:
    msg = _problems("namespaces:\n  a: {plugin: memstore\n  b: 1\n", tmp_path)
    assert "bad.yaml:" in msg and "invalid YAML" in msg


def test_not_a_mapping_and_missing_file(tmp_path: Path) -> None:
    assert "expected a mapping" in _problems("- 1\n", tmp_path)
    assert "namespaces" in _problems("port: 1\n", tmp_path)
    with pytest.raises(ProxyConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")


def test_endpoint_rejects_settings_and_bad_address() -> None:
    with pytest.raises(ProxyConfigError, match="not to an endpoint"):
        parse_config_text("namespaces:\n  a: {endpoint: 'h:1', settings: {x: 1}}\n")
    with pytest.raises(ProxyConfigError, match="must be host:port"):
        parse_config_text("namespaces:\n  a: {endpoint: nohost}\n")
    with pytest.raises(ProxyConfigError, match="not a plugin name"):
        parse_config_text("namespaces:\n  a: {plugin: 'a.b'}\n")


def test_namespace_names_use_the_sdk_name_limit() -> None:
    with pytest.raises(ProxyConfigError, match="namespace is 256 bytes; the limit is 255 bytes"):
        parse_config_text(f"namespaces:\n  {'n' * 256}: {{plugin: memstore}}\n")
    parse_config_text(f"namespaces:\n  {'n' * 255}: {{plugin: memstore}}\n")


def test_with_plugin_settings_overrides_managed_instances_only() -> None:
    cfg = parse_config_text(
        """
namespaces:
  a: {plugin: memstore, settings: {access_log_every: 5, max_keys: 10}}
  e: {endpoint: "127.0.0.1:7000"}
"""
    )
    out = with_plugin_settings(cfg, {"access_log_every": "1"})
    assert out.instances["a"].settings == {"access_log_every": "1", "max_keys": "10"}
    assert out.instances["e"].settings == {}
    assert cfg.instances["a"].settings["access_log_every"] == "5"  # the original is unchanged

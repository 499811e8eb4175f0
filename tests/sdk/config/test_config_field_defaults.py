"""PluginSettings defaults must be visible to type checkers without the pydantic mypy plugin."""

from __future__ import annotations

import ast
import inspect

import pydantic_settings

import prism.sdk.config as config
from prism.sdk.config import PluginSettings, SettingsConfigDict, settings


def test_field_defaults_are_keywords() -> None:
    """``Field("x", ...)`` is a default only to pydantic; mypy's dataclass_transform view (no
    pydantic plugin, e.g. a third-party plugin's CI) sees a required field, so
    ``MySettings(port=0)`` would fail type checking for want of host, log_level, ...
    ``Field(default="x", ...)`` is understood by both."""
    tree = ast.parse(inspect.getsource(settings))
    positional = [
        f"line {node.lineno}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "Field"
        and node.args
    ]
    assert positional == [], f"Field() with a positional default: {positional}"


def test_every_common_field_has_a_default() -> None:
    class Minimal(PluginSettings):
        model_config = SettingsConfigDict(env_prefix="PRISM_MINIMAL_")

    s = Minimal(port=0)
    assert (s.host, s.port, s.drain_timeout, s.health_interval) == ("127.0.0.1", 0, 10.0, 5.0)
    assert (s.log_level, s.log_format, s.metrics_port) == ("INFO", "text", None)
    assert all(not f.is_required() for f in PluginSettings.model_fields.values())


def test_settings_config_dict_is_reexported() -> None:
    assert config.SettingsConfigDict is pydantic_settings.SettingsConfigDict
    assert "SettingsConfigDict" in config.__all__

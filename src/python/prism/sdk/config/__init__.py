"""Typed plugin configuration: defaults, YAML file, environment and Initialize overrides.

What for: every plugin declares its settings once as a ``PluginSettings`` subclass with its own
env prefix (``PRISM_REDIS_ADDR``...) and gets common fields (host, port, drain timeout, log
level...), a ``Duration`` type that reads "250ms"/"5s"/"1m", secrets that never leak, and
``load_settings`` which layers defaults < YAML file < environment < overrides sent by
``LifecycleInterface.Initialize``.

Why built this way: pydantic-settings already does typed env parsing and validation, so we
reuse it (its env source, fed an explicit mapping so tests need no monkeypatching) instead of
writing a parser. What it lacks is the operator experience: a misconfigured plugin must fail
fast with ONE ``ConfigError`` listing every missing or invalid variable by the name the
operator actually sets (and, for YAML values, the file), never echoing a secret. That thin
layer, the layering with Initialize overrides, and ``settings_summary`` (a masked startup log
line) are ours. ``SettingsConfigDict`` is re-exported so a plugin's settings module imports
everything it needs from here.
"""

from pydantic_settings import SettingsConfigDict

from prism.sdk.config.duration import Duration, parse_duration
from prism.sdk.config.errors import ConfigError
from prism.sdk.config.loader import env_name, load_settings, settings_summary
from prism.sdk.config.settings import PluginSettings

__all__ = [
    "ConfigError",
    "Duration",
    "PluginSettings",
    "SettingsConfigDict",
    "env_name",
    "load_settings",
    "parse_duration",
    "settings_summary",
]

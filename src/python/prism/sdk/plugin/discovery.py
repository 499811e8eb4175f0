"""Find plugins without a list: installed wheels by entry point, repo folders by package scan.

Why both: an installed plugin wheel declares itself (entry-point group ``prism.plugins``, name
-> the package run with ``python -m``), while in the repo (or a PEX) a plugin is any
``prism.plugins.<name>`` package with a ``__main__``. Either way adding a plugin is adding
it, and the gateway, ``prism serve`` and the load tool never name one.
"""

from __future__ import annotations

import importlib
import pkgutil
from importlib.metadata import entry_points
from typing import Any

from prism.sdk.plugin.base import Plugin

__all__ = ["ENTRY_POINT_GROUP", "PluginNotFound", "load_plugin_class", "plugin_modules"]

ENTRY_POINT_GROUP = "prism.plugins"
_NAMESPACE = "prism.plugins"


class PluginNotFound(LookupError):
    """No plugin of that name is installed or in a plugin folder; the message lists those found."""


def _scanned() -> dict[str, str]:
    try:
        namespace = importlib.import_module(_NAMESPACE)
    except ImportError:
        return {}
    found: dict[str, str] = {}
    # Entry by entry: a package may be on several entries (a PEX that bundles part of another
    # plugin it imports), and only the one with the __main__ makes it a plugin.
    for entry in list(namespace.__path__):
        for info in pkgutil.iter_modules([entry], f"{_NAMESPACE}."):
            name = info.name.rsplit(".", 1)[1]
            if info.ispkg and name not in found and _runnable(info):
                found[name] = info.name
    return found


def _runnable(info: pkgutil.ModuleInfo) -> bool:
    """Whether the package has a ``__main__``, found without importing the package."""
    spec = info.module_finder.find_spec(info.name, None)
    locations = spec.submodule_search_locations if spec is not None else None
    return bool(locations) and any(m.name == "__main__" for m in pkgutil.iter_modules(locations))


def plugin_modules() -> dict[str, str]:
    """Every plugin found: name -> the module that serves it (``python -m <module>``)."""
    found = _scanned()
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep.value.split(":", 1)[0])
    return dict(sorted(found.items()))


def _missing(name: str, found: dict[str, str]) -> PluginNotFound:
    known = ", ".join(found) or "none"
    return PluginNotFound(f"no plugin {name!r} (plugins found: {known})")


def load_plugin_class(name: str) -> type[Plugin[Any]]:
    """The ``Plugin`` subclass that plugin ``name``'s package exports (``name`` matches)."""
    found = plugin_modules()
    if name not in found:
        raise _missing(name, found)
    package = importlib.import_module(found[name])
    for value in vars(package).values():
        if isinstance(value, type) and issubclass(value, Plugin) and value is not Plugin:
            if getattr(value, "name", None) == name:
                return value
    raise PluginNotFound(f"plugin package {found[name]} exports no Plugin subclass named {name!r}")

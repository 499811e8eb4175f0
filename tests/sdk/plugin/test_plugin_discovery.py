"""Plugins are found by folder (a ``prism.plugins.<name>`` package with ``__main__``) and by
entry point (an installed wheel's ``prism.plugins`` group), with no list anywhere."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from prism.sdk.plugin.discovery import PluginNotFound, load_plugin_class, plugin_modules

_PLUGIN = """
from prism.sdk.plugin import Plugin


class {cls}(Plugin):  # type: ignore[type-arg]
    name = "{name}"

    def servicers(self):
        return []
"""


def _package(root: Path, module: str, name: str, *, main: bool = True) -> None:
    pkg = root.joinpath(*module.split("."))
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(_PLUGIN.format(cls=f"P{name.title()}", name=name))
    if main:
        (pkg / "__main__.py").write_text("")


@pytest.fixture
def path_root(tmp_path: Path) -> Iterator[Path]:
    sys.path.insert(0, str(tmp_path))
    importlib.invalidate_caches()
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        importlib.invalidate_caches()


def test_a_new_plugin_folder_is_found_with_its_class(path_root: Path) -> None:
    _package(path_root, "prism.plugins.discoverme", "discoverme")
    _package(path_root, "prism.plugins.notaplugin", "notaplugin", main=False)
    found = plugin_modules()
    assert found["discoverme"] == "prism.plugins.discoverme"
    assert "notaplugin" not in found  # a library folder (no __main__) is not a plugin
    # (Not imported here: coverage would record a prism.* file that is gone at report time.)


def test_an_installed_wheel_is_found_by_its_entry_point(path_root: Path) -> None:
    _package(path_root, "thirdparty_prism_cass", "cass")
    info = path_root / "prism_plugin_cass-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: prism-plugin-cass\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[prism.plugins]\ncass = thirdparty_prism_cass\n")
    assert plugin_modules()["cass"] == "thirdparty_prism_cass"
    assert load_plugin_class("cass").__name__ == "PCass"


def test_an_unknown_plugin_names_those_found(path_root: Path) -> None:
    _package(path_root, "prism.plugins.discoverme2", "discoverme2")
    with pytest.raises(PluginNotFound, match=r"no plugin 'nope' \(plugins found: .*discoverme2"):
        load_plugin_class("nope")

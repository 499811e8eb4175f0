from __future__ import annotations

from pathlib import Path

import pytest


def _find_template() -> Path:
    """templates/plugin of the checkout (or of the Pants sandbox) this test runs from."""
    for folder in Path(__file__).resolve().parents:
        if (folder / "templates" / "plugin" / "copier.yml").is_file():
            return folder / "templates" / "plugin"
    raise RuntimeError("templates/plugin/copier.yml not found above " + __file__)


@pytest.fixture(scope="session")
def plugin_template() -> Path:
    return _find_template()

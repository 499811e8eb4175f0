"""The prism-sdk wheel as plugin authors get it: the conformance kit's pytest is the
``testing`` extra (``pip install prism-sdk[testing]``), not a requirement of every plugin."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def metadata() -> list[str]:
    wheels = sorted(Path.cwd().glob("prism_sdk-*.whl"))
    assert len(wheels) == 1, f"expected the built prism-sdk wheel in {Path.cwd()}: {wheels}"
    with zipfile.ZipFile(wheels[0]) as wheel:
        name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
        return wheel.read(name).decode().splitlines()


TESTING = re.compile(r";\s*extra\s*==\s*[\"']testing[\"']$")


def _requires(metadata: list[str]) -> list[tuple[str, str]]:
    """(project name, the whole requirement) of every Requires-Dist line."""
    found = []
    for line in metadata:
        if line.startswith("Requires-Dist: "):
            spec = line.removeprefix("Requires-Dist: ")
            name = re.match(r"[A-Za-z0-9_.-]+", spec)
            assert name is not None, line
            found.append((name[0].lower(), spec))
    return found


def test_pytest_is_the_testing_extra_not_a_runtime_requirement(metadata: list[str]) -> None:
    requires = _requires(metadata)
    assert "Provides-Extra: testing" in metadata
    testing = {name for name, spec in requires if TESTING.search(spec)}
    runtime = {name for name, spec in requires if "extra" not in spec}
    assert testing == {"pytest", "pytest-asyncio"}, requires
    assert not {name for name in runtime if name.startswith("pytest")}, requires
    assert "grpcio" in runtime, requires


def test_the_wheel_ships_type_hints() -> None:
    wheel = next(Path.cwd().glob("prism_sdk-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        assert "prism/sdk/py.typed" in archive.namelist()

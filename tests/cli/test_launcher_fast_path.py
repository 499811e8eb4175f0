"""The ./prism launcher skips Pants when nothing Pants would read changed since the last build.

Each test copies the real launcher into a small git repo whose ``./pants`` is a stand-in: it
records each call and writes the PEXes the launcher asked for (Python scripts that print what
they ran with), so whether Pants ran is a count, not a timing.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

LAUNCHER = Path(__file__).resolve().parents[2] / "prism"

# Writes dist/<folder with dots>/<name>.pex for every target, like `pants package`.
FAKE_PANTS = textwrap.dedent(
    """\
    #!/usr/bin/env python3
    import os, pathlib, sys

    with open(os.environ["FAKE_PANTS_CALLS"], "a") as log:
        log.write(" ".join(sys.argv[1:]) + "\\n")
    if os.environ.get("FAKE_PANTS_FAIL"):
        sys.exit("fake pants: build failed")
    for target in sys.argv[2:]:
        folder, name = target.split(":")
        pex = pathlib.Path("dist", folder.replace("/", "."), name + ".pex")
        pex.parent.mkdir(parents=True, exist_ok=True)
        pex.write_text(
            "import os, sys\\n"
            f"print({target!r}, sys.argv[1:], os.environ.get('PEX_PATH', '').count('plugin-'))\\n"
        )
    """
)


@dataclass
class Checkout:
    root: Path
    cache: Path
    calls: Path

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRISM_"))}
        return subprocess.run(
            [str(self.root / "prism"), *args],
            cwd=self.root,
            env={
                **base,
                "PRISM_CACHE": str(self.cache),
                "FAKE_PANTS_CALLS": str(self.calls),
                **env,
            },
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def pants_calls(self) -> list[str]:
        return self.calls.read_text().splitlines() if self.calls.exists() else []

    def write(self, rel: str, text: str) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=root,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def checkout(tmp_path: Path) -> Checkout:
    co = Checkout(tmp_path / "repo", tmp_path / "cache", tmp_path / "pants-calls")
    co.root.mkdir()
    shutil.copyfile(LAUNCHER, co.root / "prism")
    co.write("pants", FAKE_PANTS)
    for script in ("prism", "pants"):
        (co.root / script).chmod(stat.S_IRWXU)
    co.write(".gitignore", "/dist/\n/lockfiles/\n__pycache__/\n")
    co.write("pants.toml", "[GLOBAL]\n")
    co.write("src/python/prism/cli/BUILD", "pex_binary(name='prism')\n")
    co.write("src/python/prism/cli/main.py", "x = 1\n")
    co.write("src/python/prism/plugins/memstore/__main__.py", "")
    co.write("lockfiles/python-default.lock", "v1\n")
    _git(co.root, "init", "-q")
    _git(co.root, "add", "-A")
    _git(co.root, "commit", "-q", "-m", "init")
    return co


def _ok(co: Checkout, *args: str, **env: str) -> str:
    proc = co.run(*args, **env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_a_second_call_with_no_change_runs_the_same_pexes_without_pants(checkout: Checkout) -> None:
    first = _ok(checkout, "kv", "get", "k")
    assert first == "src/python/prism/cli:prism ['kv', 'get', 'k'] 1\n"
    assert len(checkout.pants_calls()) == 1
    assert _ok(checkout, "kv", "get", "k") == first
    assert len(checkout.pants_calls()) == 1


def test_editing_a_source_file_rebuilds(checkout: Checkout) -> None:
    _ok(checkout)
    checkout.write("src/python/prism/cli/main.py", "x = 2\n")
    _ok(checkout)
    assert len(checkout.pants_calls()) == 2
    _ok(checkout)
    assert len(checkout.pants_calls()) == 2


def test_a_new_untracked_source_file_rebuilds(checkout: Checkout) -> None:
    _ok(checkout)
    checkout.write("src/python/prism/cli/extra.py", "")
    _ok(checkout)
    assert len(checkout.pants_calls()) == 2


def test_a_new_plugin_folder_rebuilds_and_joins_the_command(checkout: Checkout) -> None:
    _ok(checkout)
    checkout.write("src/python/prism/plugins/mystore/__main__.py", "")  # untracked
    assert _ok(checkout) == "src/python/prism/cli:prism [] 2\n"
    assert checkout.pants_calls()[-1].endswith("src/python/prism/plugins/mystore:server")


def test_a_lockfile_change_rebuilds_though_git_ignores_it(checkout: Checkout) -> None:
    _ok(checkout)
    checkout.write("lockfiles/python-default.lock", "v2\n")
    _ok(checkout)
    assert len(checkout.pants_calls()) == 2


def test_ignored_and_unrelated_files_do_not_rebuild(checkout: Checkout) -> None:
    _ok(checkout)
    checkout.write("src/python/prism/cli/__pycache__/main.cpython-311.pyc", "x")
    checkout.write("README.md", "docs\n")
    checkout.write("tests/test_x.py", "")
    _ok(checkout)
    assert len(checkout.pants_calls()) == 1


def test_prism_rebuild_forces_pants(checkout: Checkout) -> None:
    _ok(checkout)
    _ok(checkout, PRISM_REBUILD="1")
    assert len(checkout.pants_calls()) == 2


def test_a_removed_cached_pex_rebuilds(checkout: Checkout) -> None:
    _ok(checkout)
    for pex in checkout.cache.glob("cli/plugin-memstore-*.pex"):
        pex.unlink()
    _ok(checkout)
    assert len(checkout.pants_calls()) == 2


def test_an_empty_record_rebuilds(checkout: Checkout) -> None:
    _ok(checkout)
    for record in checkout.cache.glob("cli/prism-*.build"):
        record.write_text("")
    _ok(checkout)
    assert len(checkout.pants_calls()) == 2
    _ok(checkout)
    assert len(checkout.pants_calls()) == 2


def test_a_failed_build_is_not_recorded(checkout: Checkout) -> None:
    failed = checkout.run(FAKE_PANTS_FAIL="1")
    assert failed.returncode == 1
    assert "fake pants: build failed" in failed.stderr
    assert "with Pants failed" in failed.stderr
    _ok(checkout)
    assert len(checkout.pants_calls()) == 2


def test_outside_a_git_checkout_it_always_builds(checkout: Checkout) -> None:
    shutil.rmtree(checkout.root / ".git")
    _ok(checkout)
    _ok(checkout)
    assert len(checkout.pants_calls()) == 2

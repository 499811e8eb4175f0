"""templates/plugin renders plugins that work as generated: layout, lint, conformance tests."""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from prism.cli.main import main

KINDS = {"keyvalue": "kv_gen", "pubsub": "psgen"}
CLASSES = {"kv_gen": "KvGen", "psgen": "Psgen"}
PLUGIN_FILES = ["BUILD", "__init__.py", "__main__.py", "backend.py", "plugin.py", "settings.py"]


def _test_files(name: str) -> list[str]:
    return ["BUILD", "__init__.py", f"test_{name}_conformance.py", f"test_{name}_ghz.py"]


GHZ_FILES = ["prism.yaml", "suites"]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory, plugin_template: Path) -> Path:
    """A copy-root with one plugin of each kind, generated through `prism new-plugin`."""
    root = tmp_path_factory.mktemp("copy-root")
    for kind, name in KINDS.items():
        argv = ["new-plugin", name, "--kind", kind, "--dest", str(root)]
        with pytest.raises(SystemExit) as info:
            main([*argv, "--template", str(plugin_template), "--defaults"])
        assert info.value.code == 0, f"generating {name} failed"
    # The repo's pytest settings (pyproject.toml) for the generated tests.
    (root / "pytest.ini").write_text(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    return root


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_file())


@pytest.mark.parametrize("name", KINDS.values())
def test_generates_the_plugin_and_its_tests(generated: Path, name: str) -> None:
    plugin = generated / "src/python/prism/plugins" / name
    # The answers file (for `new-plugin --update`) is written by the CLI, not the template.
    assert _files(plugin) == sorted([*PLUGIN_FILES, ".copier-answers.yml"])
    assert _files(generated / "tests/plugins" / name) == sorted(_test_files(name))
    assert _files(generated / "tests/plugins" / name / "ghz") == GHZ_FILES
    # Nothing outside the two folders.
    assert sorted(p.name for p in generated.iterdir()) == ["pytest.ini", "src", "tests"]
    assert not (generated / "src/python/prism/__init__.py").exists(), "namespace package"
    assert not (generated / "src/python/prism/plugins/__init__.py").exists()


def test_names_env_prefix_and_build_targets(generated: Path) -> None:
    plugin = generated / "src/python/prism/plugins/kv_gen"
    assert 'env_prefix="PRISM_KV_GEN_"' in (plugin / "settings.py").read_text()
    assert "class KvGenPlugin(Plugin[KvGenSettings]):" in (plugin / "plugin.py").read_text()
    build = (plugin / "BUILD").read_text()
    assert re.search(r'prism_plugin\(\s*name="kv_gen",\s*description="Prism kv_gen plugin', build)
    tests_build = (generated / "tests/plugins/kv_gen/BUILD").read_text()
    assert 'files(name="ghz", sources=["ghz/*"])' in tests_build
    assert 'python_tests(dependencies=[":ghz", "src/python/prism/plugins/kv_gen"])' in tests_build
    assert "BACKEND CLIENT" in (plugin / "backend.py").read_text()
    assert "tests/load/ghz/run.sh --addr" in (plugin / "__init__.py").read_text()


def _python_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.py"))


def test_generated_python_compiles(generated: Path) -> None:
    files = _python_files(generated)
    assert len(files) == 2 * (5 + 3)
    for path in files:
        compile(path.read_text(), str(path), "exec")


def _ruff() -> str | None:
    found = shutil.which("ruff")
    beside = Path(sys.executable).parent / "ruff"
    if found is None and beside.is_file():
        found = str(beside)
    if found is None:
        try:  # the ruff wheel on sys.path (e.g. in a PEX) knows where its binary is
            found = str(importlib.import_module("ruff.__main__").find_ruff_bin())
        except (ImportError, FileNotFoundError):
            pass
    return found


def test_generated_python_is_ruff_clean(generated: Path) -> None:
    ruff = _ruff()
    assert ruff is not None, "no ruff binary (PATH, the interpreter's bin, the ruff package)"
    version = subprocess.run([ruff, "--version"], capture_output=True, text=True).stdout
    found = re.search(r"(\d+)\.(\d+)", version)
    if found is None or (int(found[1]), int(found[2])) < (0, 2):
        pytest.skip(f"ruff {version.strip()!r} predates `--config KEY=VALUE` (0.2)")
    # The repo's lint settings (pyproject.toml), spelled out: the copy-root has no config.
    lint = [ruff, "check", "--isolated", "--line-length", "100", "--target-version", "py311"]
    lint += ["--select", "E,F,I,UP,B,W", "--config", "lint.isort.known-first-party=['prism']"]
    result = subprocess.run([*lint, str(generated)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def _repo_root() -> Path:
    """The checkout (or Pants sandbox) this test runs from: the folder holding tools/ghz.sh."""
    for folder in [Path.cwd(), *Path(__file__).resolve().parents]:
        if (folder / "tools" / "ghz.sh").is_file():
            return folder
    raise RuntimeError(f"tools/ghz.sh not found above {__file__} or in {Path.cwd()}")


def _pythonpath(root: Path) -> str:
    paths = [root / "src/python", root / "tests"]
    paths += [Path(p).resolve() for p in sys.path if p]
    return os.pathsep.join(str(p) for p in paths)


@pytest.mark.parametrize("kind", KINDS)
def test_generated_conformance_tests_pass(generated: Path, kind: str) -> None:
    name = KINDS[kind]
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_", "COV_CORE_", "PRISM_")) and k != "PYTHONPATH"
    }
    env.update(PYTHONPATH=_pythonpath(generated), PYTHONDONTWRITEBYTECODE="1")
    command = [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider"]
    tests = generated / "tests/plugins" / name
    command += ["-c", str(generated / "pytest.ini"), str(tests / f"test_{name}_conformance.py")]
    result = subprocess.run(
        command, cwd=generated, env=env, capture_output=True, text=True, timeout=240
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    summary = output.strip().splitlines()[-1]
    assert re.search(r"\d+ passed", summary) and not re.search(
        r"failed|error|skipped|xfail", summary
    ), summary
    cls = CLASSES[name]
    served = ["KeyValue", "Scan"] if kind == "keyvalue" else ["PubSub"]
    for suffix in served:
        assert f"::Test{cls}{suffix}::" in output, f"Test{cls}{suffix} did not run"
    assert "::test_health_pings_the_backend_and_watches_the_pool PASSED" in output
    assert "::test_settings_use_the_plugin_env_prefix PASSED" in output


@pytest.mark.parametrize("kind", KINDS)
def test_prism_loadtest_drives_the_generated_plugin_with_no_edit(
    generated: Path, kind: str
) -> None:
    """Found by folder (no list) and driven through its kv_store()/pubsub_broker()."""
    name = KINDS[kind]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRISM_", "PYTEST_"))}
    env.update(PYTHONPATH=_pythonpath(generated), PYTHONDONTWRITEBYTECODE="1")
    scenario = ["kv", "--keys", "50"] if kind == "keyvalue" else ["pubsub", "--settle", "2s"]
    command = [sys.executable, "-m", "prism.loadtest", *scenario, "--plugin", name]
    command += ["-r", "50", "-d", "1s", "--quiet"]
    result = subprocess.run(
        command, cwd=generated, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success Rate:     100.00%" in result.stdout


@pytest.mark.parametrize("kind", KINDS)
def test_generated_ghz_suite_runs_green_through_the_gateway(generated: Path, kind: str) -> None:
    """With no edit: the plugin's ghz/prism.yaml and ghz/suites, found by folder, run through
    `prism up` (the generated test_<name>_ghz.py, in a pytest subprocess)."""
    name = KINDS[kind]
    tests = generated / "tests/plugins" / name
    suites = (tests / "ghz/suites").read_text()
    expected = ["kv_set", "kv_get", "scan_scan"] if kind == "keyvalue" else ["pubsub_subscribe"]
    assert all(suite in suites.split() for suite in expected), suites
    namespace = "default" if kind == "keyvalue" else "events"
    config = (tests / "ghz/prism.yaml").read_text()
    assert f"  {namespace}:\n    plugin: {name}\n" in config, config
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_", "COV_CORE_", "PRISM_GHZ_")) and k != "PYTHONPATH"
    }
    # tools/ (ghz.sh) is beside this test's sources, not in the generated root.
    env.update(PYTHONPATH=_pythonpath(generated), PRISM_REPO_ROOT=str(_repo_root()))
    env.update(PYTHONDONTWRITEBYTECODE="1")
    command = [sys.executable, "-m", "pytest", "-v", "-s", "-p", "no:cacheprovider"]
    command += ["-c", str(generated / "pytest.ini"), str(tests / f"test_{name}_ghz.py")]
    result = subprocess.run(
        command, cwd=generated, env=env, capture_output=True, text=True, timeout=280
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    summary = output.strip().splitlines()[-1]
    assert re.search(r"\b1 passed", summary) and not re.search(r"failed|error|skip", summary)
    for suite in expected:  # run.sh's summary line of each suite
        assert re.search(rf"\b{suite} +count=\d+ .*codes=", output), output


def test_template_files_are_invisible_to_pants_and_python_tools(plugin_template: Path) -> None:
    files = [p for p in (plugin_template / "template").rglob("*") if p.is_file()]
    assert len(files) == len(PLUGIN_FILES) + 4 + len(GHZ_FILES)
    for path in files:
        assert path.name.endswith(".jinja"), f"{path} would be read as source, not template"
        assert not re.fullmatch(r"BUILD(\..*)?", path.name), f"Pants would read {path}"


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"name": "My-Store"}, "lowercase Python identifier"),
        ({"name": "import"}, "Python keyword"),
        ({"name": "ok", "description": 'say "hi"'}, "without double quotes"),
    ],
)
def test_the_template_validates_answers_itself(
    tmp_path: Path, plugin_template: Path, data: dict[str, str], problem: str
) -> None:
    """For people who run `copier copy templates/plugin .` directly, without the CLI."""
    import copier

    with pytest.raises(ValueError, match=problem):
        copier.run_copy(str(plugin_template), str(tmp_path), data=data, defaults=True, quiet=True)
    assert list(tmp_path.iterdir()) == []

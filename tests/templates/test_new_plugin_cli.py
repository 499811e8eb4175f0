"""`prism new-plugin`: where it generates, and the errors it reports instead of generating."""

from __future__ import annotations

from pathlib import Path

import pytest

from prism.cli.main import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(["new-plugin", *argv])
    out, err = capsys.readouterr()
    code = info.value.code
    return (code if isinstance(code, int) else 1), out, err


@pytest.fixture
def repo(tmp_path: Path, plugin_template: Path) -> Path:
    """A minimal repo: pants.toml at its root and the template where the CLI looks for it."""
    (tmp_path / "pants.toml").write_text("[GLOBAL]\n")
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "plugin").symlink_to(plugin_template, target_is_directory=True)
    return tmp_path


def _plugin_dirs(root: Path, name: str) -> list[Path]:
    return [root / "src/python/prism/plugins" / name, root / "tests/plugins" / name]


def test_finds_the_repo_root_from_a_subfolder(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (repo / "docs").mkdir()
    monkeypatch.chdir(repo / "docs")
    code, out, err = run(capsys, "mystore", "--defaults")
    assert code == 0, err
    assert all(d.is_dir() for d in _plugin_dirs(repo, "mystore"))
    assert "src/python/prism/plugins/mystore/backend.py" in out
    assert "tests/plugins/mystore/test_mystore_conformance.py" in out
    assert "./pants test tests/plugins/mystore::" in out
    assert "./pants package src/python/prism/plugins/mystore:dist" in out
    assert "{plugin: mystore}" in out and "PLUGINS" not in out  # found by its folder, no list
    assert "./prism-loadtest kv --plugin mystore" in out
    assert not (repo / "docs" / "src").exists()


def test_kind_and_description_reach_the_template(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["events", "--kind", "pubsub", "--description", "Events on our bus.", "--defaults"]
    code, _, err = run(capsys, *argv, "--dest", str(repo))
    assert code == 0, err
    plugin = repo / "src/python/prism/plugins/events"
    assert 'description="Events on our bus."' in (plugin / "BUILD").read_text()
    assert "class EventsBroker:" in (plugin / "backend.py").read_text()
    tests = (repo / "tests/plugins/events/test_events_conformance.py").read_text()
    assert "class TestEventsPubSub(PubSubBasicConformance):" in tests


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("MyStore", "not a lowercase Python identifier"),
        ("my-store", "not a lowercase Python identifier"),
        ("1store", "not a lowercase Python identifier"),
        ("", "not a lowercase Python identifier"),
        ("class", "is a Python keyword"),
    ],
)
def test_rejects_names_that_are_not_identifiers(
    repo: Path, capsys: pytest.CaptureFixture[str], name: str, problem: str
) -> None:
    code, _, err = run(capsys, name, "--dest", str(repo), "--defaults")
    assert code == 2 and problem in err and repr(name) in err
    assert not (repo / "src").exists() and not (repo / "tests").exists()


def test_refuses_to_overwrite_an_existing_plugin(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "mystore", "--dest", str(repo), "--defaults")[0] == 0
    backend = repo / "src/python/prism/plugins/mystore/backend.py"
    backend.write_text("# my real backend\n")
    code, _, err = run(capsys, "mystore", "--dest", str(repo), "--defaults")
    assert code == 1 and "plugin 'mystore' already exists" in err
    assert backend.read_text() == "# my real backend\n"


def test_an_existing_tests_folder_alone_blocks_too(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "tests/plugins/taken").mkdir(parents=True)
    code, _, err = run(capsys, "taken", "--dest", str(repo), "--defaults")
    assert code == 1 and "already exists" in err and "tests/plugins/taken" in err
    assert not (repo / "src/python/prism/plugins/taken").exists()


def test_outside_a_repo_asks_for_dest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "mystore", "--defaults")
    assert code == 2 and "no pants.toml" in err and "--dest" in err


def test_missing_template_is_named(
    repo: Path, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    nowhere = tmp_path_factory.mktemp("no-template")
    code, _, err = run(capsys, "mystore", "--dest", str(repo), "--template", str(nowhere))
    assert code == 2 and "no Copier template" in err and str(nowhere) in err


@pytest.mark.parametrize("description", ['say "hi"', "two\nlines", "   "])
def test_rejects_descriptions_that_cannot_be_a_build_string(
    repo: Path, capsys: pytest.CaptureFixture[str], description: str
) -> None:
    code, _, err = run(capsys, "mystore", "--dest", str(repo), "--description", description)
    assert code == 2 and "--description" in err


def test_unknown_kind_is_a_usage_error(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "mystore", "--dest", str(repo), "--kind", "queue")
    assert code == 2 and "invalid choice: 'queue'" in err


def test_a_failing_template_leaves_nothing_behind(
    repo: Path, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path_factory.mktemp("broken-template")
    (broken / "copier.yml").write_text(
        "_templates_suffix: .jinja\nname:\n  type: str\n  validator: always wrong\n"
    )
    code, _, err = run(capsys, "mystore", "--dest", str(repo), "--template", str(broken))
    assert code == 1 and "always wrong" in err
    assert not any(d.exists() for d in _plugin_dirs(repo, "mystore"))

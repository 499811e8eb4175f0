"""`prism new-plugin --update`: template changes merged into a generated plugin, edits kept."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from prism.cli.main import main

NAME = "mystore"
PLUGIN = f"src/python/prism/plugins/{NAME}"
TEMPLATE_PLUGIN = "templates/plugin/template/src/python/prism/plugins/{{name}}"


def git(repo: Path, *argv: str) -> str:
    return subprocess.run(
        ["git", *argv], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


def prism(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(["new-plugin", *argv])
    out, err = capsys.readouterr()
    code = info.value.code
    return (code if isinstance(code, int) else 1), out, err


@pytest.fixture
def repo(tmp_path: Path, plugin_template: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repo holding a copy of the template (so a test can change it) and pants.toml."""
    for var in ("GIT_AUTHOR", "GIT_COMMITTER"):
        monkeypatch.setenv(f"{var}_NAME", "Prism Test")
        monkeypatch.setenv(f"{var}_EMAIL", "test@prism.invalid")
    (tmp_path / "pants.toml").write_text("[GLOBAL]\n")
    shutil.copytree(plugin_template, tmp_path / "templates/plugin")
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "template v1")
    return tmp_path


def generate(repo: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> None:
    code, _, err = prism(capsys, NAME, "--dest", str(repo), "--defaults", *extra)
    assert code == 0, err
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"generate {NAME}")


def update(repo: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    return prism(capsys, NAME, "--update", "--dest", str(repo), *extra)


def prepend(path: Path, line: str) -> None:
    path.write_text(line + "\n" + path.read_text())


def answers(repo: Path) -> dict[str, object]:
    data = yaml.safe_load((repo / PLUGIN / ".copier-answers.yml").read_text())
    assert isinstance(data, dict)
    return data


def test_generation_records_the_answers_and_the_template_version(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    generate(repo, capsys, "--kind", "pubsub")
    recorded = answers(repo)
    assert recorded["_commit"] == git(repo, "rev-parse", "HEAD~1")
    assert recorded["_template_tree"] == git(repo, "rev-parse", "HEAD:templates/plugin")
    assert recorded["name"] == NAME and recorded["kind"] == "pubsub"
    assert str(recorded["description"]).startswith(f"Prism {NAME} plugin")
    assert "env_prefix" not in recorded  # derived answers are not recorded


def test_update_keeps_the_authors_edit_and_brings_the_template_change(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    generate(repo, capsys)
    backend = repo / PLUGIN / "backend.py"
    backend.write_text(backend.read_text() + "\n\n# my backend edit\n")
    (repo / PLUGIN / "__main__.py").unlink()  # deleted by the author
    git(repo, "commit", "-q", "-am", "my edits")
    # The template moves on: a line in backend.py (far from the edit), a change to the file
    # the author deleted, and a new file.
    template = repo / TEMPLATE_PLUGIN
    prepend(template / "backend.py.jinja", "# template v2: {{ name }}")
    prepend(template / "__main__.py.jinja", "# template v2")
    (template / "NOTES.md.jinja").write_text("Notes for {{ name }}.\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "template v2")

    code, out, err = update(repo, capsys)
    assert code == 0, err
    text = backend.read_text()
    assert text.startswith(f"# template v2: {NAME}\n") and text.endswith("# my backend edit\n")
    assert "<<<<<<<" not in text
    compile(text, str(backend), "exec")
    assert (repo / PLUGIN / "NOTES.md").read_text() == f"Notes for {NAME}.\n"
    assert not (repo / PLUGIN / "__main__.py").exists(), "a deleted file came back"
    assert f"merged    {PLUGIN}/backend.py" in out and f"added     {PLUGIN}/NOTES.md" in out
    assert answers(repo)["_template_tree"] == git(repo, "rev-parse", "HEAD:templates/plugin")

    code, out, _ = update(repo, capsys)  # nothing new since
    assert code == 0 and "already has every change" in out
    assert backend.read_text() == text


def test_conflicting_edits_get_markers_and_a_nonzero_exit(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    generate(repo, capsys)
    backend = repo / PLUGIN / "backend.py"
    prepend(backend, "# mine")
    template = repo / TEMPLATE_PLUGIN
    prepend(template / "backend.py.jinja", "# theirs")
    prepend(template / "plugin.py.jinja", "# theirs, no conflict")

    code, out, err = update(repo, capsys)
    assert code == 1
    text = backend.read_text()
    assert text.startswith(f"<<<<<<< {NAME} (yours)\n# mine\n=======\n# theirs\n>>>>>>> ")
    assert f"CONFLICT  {PLUGIN}/backend.py" in out
    assert "1 file(s) need your decision" in err and f"{PLUGIN}/backend.py" in err
    assert (repo / PLUGIN / "plugin.py").read_text().startswith("# theirs, no conflict\n")


def test_files_the_template_removed(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    generate(repo, capsys)
    prepend(repo / PLUGIN / "settings.py", "# my settings edit")
    template = repo / TEMPLATE_PLUGIN
    (template / "settings.py.jinja").unlink()
    (template / "__main__.py.jinja").unlink()

    code, _, err = update(repo, capsys)
    assert code == 1
    assert not (repo / PLUGIN / "__main__.py").exists(), "unedited: removed with the template"
    assert (repo / PLUGIN / "settings.py").read_text().startswith("# my settings edit\n")
    assert f"{PLUGIN}/settings.py (removed by the template, edited by you: kept)" in err


def test_the_base_is_the_template_as_rendered_even_uncommitted(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The recorded tree, not HEAD, is the base: an uncommitted template edit is no change."""
    template = repo / TEMPLATE_PLUGIN
    prepend(template / "backend.py.jinja", "# uncommitted template line")
    generate(repo, capsys)
    backend = repo / PLUGIN / "backend.py"
    backend.write_text(backend.read_text().replace("# uncommitted template line\n", ""))
    prepend(template / "plugin.py.jinja", "# later template change")

    code, _, err = update(repo, capsys)
    assert code == 0, err
    assert "# uncommitted template line" not in backend.read_text(), "the author's removal lost"
    assert (repo / PLUGIN / "plugin.py").read_text().startswith("# later template change\n")


def test_the_commit_is_the_base_once_the_recorded_tree_is_gone(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    generate(repo, capsys)
    answers_file = repo / PLUGIN / ".copier-answers.yml"
    recorded = answers_file.read_text()
    tree = str(answers(repo)["_template_tree"])
    answers_file.write_text(recorded.replace(tree, "f" * 40))  # as if git had pruned it
    prepend(repo / TEMPLATE_PLUGIN / "plugin.py.jinja", "# template v2")

    code, out, err = update(repo, capsys)
    assert code == 0, err
    assert (repo / PLUGIN / "plugin.py").read_text().startswith("# template v2\n")
    assert f"updated   {PLUGIN}/plugin.py" in out


def test_a_plugin_without_answers_needs_base(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    generate(repo, capsys, "--kind", "pubsub")
    (repo / PLUGIN / ".copier-answers.yml").unlink()
    generated_at = git(repo, "rev-parse", "HEAD")
    prepend(repo / TEMPLATE_PLUGIN / "plugin.py.jinja", "# template v2")

    code, _, err = update(repo, capsys)
    assert code == 2 and ".copier-answers.yml is missing" in err and "--base" in err
    assert not (repo / PLUGIN / "plugin.py").read_text().startswith("# template v2")

    code, _, err = update(repo, capsys, "--base", generated_at, "--kind", "pubsub")
    assert code == 0, err
    assert (repo / PLUGIN / "plugin.py").read_text().startswith("# template v2\n")
    assert answers(repo)["kind"] == "pubsub"

    code, _, err = update(repo, capsys, "--kind", "keyvalue")
    assert code == 2 and "--kind: the answers are recorded in" in err


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["ghost", "--update"], "no plugin 'ghost'"),
        ([NAME, "--base", "HEAD"], "--base goes with --update"),
        ([NAME, "--update", "--base", "no-such-rev"], "no template version no-such-rev:"),
    ],
)
def test_update_errors_change_nothing(
    repo: Path, capsys: pytest.CaptureFixture[str], argv: list[str], problem: str
) -> None:
    generate(repo, capsys)
    prepend(repo / TEMPLATE_PLUGIN / "plugin.py.jinja", "# template v2")
    code, _, err = prism(capsys, *argv, "--dest", str(repo))
    assert code in (1, 2) and problem in err
    assert git(repo, "status", "--porcelain", "--", "src") == ""

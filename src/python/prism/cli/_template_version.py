"""Which template version rendered a plugin, recorded at generation and found again in git.

``prism new-plugin`` writes ``.copier-answers.yml`` into the plugin's source folder: the answers
it rendered with and the version of ``templates/plugin`` it rendered from, as two git object
names. ``_template_tree`` is the tree of the template folder as it was on disk (written into
the repository's object store, so a template with uncommitted edits has one too); ``_commit``
is the repository's HEAD then, the fallback once git has pruned an uncommitted tree. The
update renders that version again from the repository's history to get the merge base.
"""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "ANSWERS_FILE",
    "TemplateVersion",
    "TemplateVersionError",
    "answers_path",
    "export_template",
    "read_answers",
    "remembered_answers",
    "template_version",
    "write_answers",
]

ANSWERS_FILE = ".copier-answers.yml"
_HEADER = (
    "# Written by `prism new-plugin`: the answers and the template version this plugin was\n"
    "# rendered from. `prism new-plugin --update NAME` merges the template's changes since\n"
    "# then into the plugin and rewrites this file. Do not edit.\n"
)


class TemplateVersionError(Exception):
    """A template version cannot be recorded or found; the message says which and why."""


@dataclass(frozen=True)
class TemplateVersion:
    """A template folder's version: its repository's HEAD and the folder's own tree."""

    commit: str
    tree: str


def answers_path(root: Path, name: str) -> Path:
    """Where the plugin ``name`` of the repo at ``root`` keeps its answers file."""
    return root / "src/python/prism/plugins" / name / ANSWERS_FILE


def _git(cwd: Path, *argv: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        ["git", *argv],
        cwd=cwd,
        env=None if env is None else {**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise TemplateVersionError(f"git {' '.join(argv)} in {cwd}: {done.stderr.strip()}")
    return done.stdout.strip()


def _location(template: Path) -> tuple[Path, str] | None:
    """The git work tree holding ``template`` and the template's folder inside it."""
    try:
        top = Path(_git(template, "rev-parse", "--show-toplevel"))
        prefix = _git(template, "rev-parse", "--show-prefix")
    except (TemplateVersionError, OSError):
        return None  # not in a git work tree, or no git at all
    return top, prefix


def template_version(template: Path) -> TemplateVersion | None:
    """The version of ``template`` as it is on disk, or None outside a git work tree."""
    where = _location(template)
    if where is None:
        return None
    top, prefix = where
    try:
        commit = _git(top, "rev-parse", "--verify", "HEAD")
    except TemplateVersionError:
        return None  # a repository without a commit yet
    with tempfile.TemporaryDirectory() as scratch:
        # A throwaway index: the user's staged changes stay as they are.
        env = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
        _git(top, "add", "--", prefix or ".", env=env)
        tree = _git(top, "write-tree", *([f"--prefix={prefix}"] if prefix else []), env=env)
    return TemplateVersion(commit=commit, tree=tree)


def export_template(template: Path, base: TemplateVersion | str, dest: Path) -> str:
    """Write the template folder at version ``base`` into ``dest``; returns the git object used.

    ``base`` is a recorded version or a revision the user named (``--base``), read from the
    repository holding ``template`` (the current one).
    """
    where = _location(template)
    if where is None:
        raise TemplateVersionError(
            f"{template} is not in a git work tree: the template's history is where the "
            "version a plugin was generated from is found"
        )
    top, prefix = where
    if isinstance(base, TemplateVersion):
        candidates = [base.tree, f"{base.commit}:{prefix}"]
    else:
        candidates = [f"{base}:{prefix}"]
    for treeish in candidates:
        try:
            if _git(top, "cat-file", "-t", treeish) != "tree":
                continue
        except TemplateVersionError:
            continue
        archive = subprocess.run(
            ["git", "archive", "--format=tar", treeish], cwd=top, capture_output=True, check=False
        )
        if archive.returncode != 0:
            raise TemplateVersionError(f"git archive {treeish}: {archive.stderr.decode().strip()}")
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(dest, filter="data")
        return treeish
    raise TemplateVersionError(
        f"no template version {' or '.join(candidates)} in the git repository {top}"
    )


def remembered_answers(worker: Any) -> dict[str, Any]:
    """The answers a Copier run used for its questions, less the derived ones (``when: false``)."""
    questions: dict[str, Any] = worker.template.questions_data
    return {
        key: value
        for key, value in worker.answers.combined.items()
        if key in questions and questions[key].get("when", True) is not False
    }


def write_answers(path: Path, answers: dict[str, Any], version: TemplateVersion | None) -> None:
    """Record ``answers`` and ``version`` (None: the template was not in git) at ``path``."""
    data: dict[str, Any] = {}
    if version is not None:
        data = {"_commit": version.commit, "_template_tree": version.tree}
    data.update(answers)
    text = _HEADER + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    partial.replace(path)


def read_answers(path: Path) -> tuple[dict[str, Any], TemplateVersion | None]:
    """The answers and the template version recorded at ``path``."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise TemplateVersionError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise TemplateVersionError(f"{path} is not an answers file (no 'name' answer)")
    commit, tree = data.pop("_commit", None), data.pop("_template_tree", None)
    version = None
    if isinstance(commit, str) and isinstance(tree, str):
        version = TemplateVersion(commit=commit, tree=tree)
    answers = {key: value for key, value in data.items() if not str(key).startswith("_")}
    return answers, version

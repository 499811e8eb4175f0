"""``prism new-plugin --update NAME``: bring a generated plugin up to the current template.

A three-way merge per file, as ``git merge-file`` does it: the base is the template at the
version the plugin was generated from (``.copier-answers.yml``, rendered again from the git
history of the template's repository, or ``--base REV``), ours is the plugin as it is now, and
theirs is the current template rendered with the same answers. Edits on one side are taken;
edits on both sides of the same lines become conflict markers, listed, and the exit status is
1. A file the author deleted stays deleted; a file new in the template is added. Nothing is
written until every file has been merged, so a failure leaves the plugin as it was.

Why not ``copier update``: it only updates from a template that is the root of its own git
repository (Copier resolves ``_commit`` and versions from the template repository's tags, and a
path inside a repository is copied as a plain folder with no version), it keeps one answers
file at the destination root (here the repo root, shared by every plugin), and it refuses a
destination with uncommitted changes anywhere in the repo. ``templates/plugin`` lives inside
this monorepo, so the versions are git objects of this repository instead (see
``_template_version``).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prism.cli._template_version import (
    ANSWERS_FILE,
    TemplateVersion,
    TemplateVersionError,
    answers_path,
    export_template,
    read_answers,
    remembered_answers,
    template_version,
    write_answers,
)

__all__ = ["update_plugin"]

_MERGE_FAILED = 127  # git merge-file: a count of conflicts up to 127, more is an error


@dataclass
class _Plan:
    """What the update writes: new contents, removals, and what it tells the user."""

    writes: dict[Path, bytes] = field(default_factory=dict)
    removals: list[Path] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)


def _fail(message: str, code: int = 2) -> int:
    print(f"prism new-plugin --update: {message}", file=sys.stderr)
    return code


def _render(template: Path, answers: dict[str, Any], dest: Path) -> dict[str, Any]:
    """Render ``template`` with ``answers`` into ``dest``; returns the answers it used."""
    import copier

    worker = copier.run_copy(
        str(template), str(dest), data=answers, defaults=True, overwrite=True, quiet=True
    )
    return remembered_answers(worker)


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _merge_file(ours: bytes, base: bytes, theirs: bytes, labels: list[str]) -> tuple[bytes, int]:
    """``git merge-file``: the merged text (with markers) and the number of conflicts."""
    with tempfile.TemporaryDirectory() as scratch:
        paths = []
        for name, content in (("ours", ours), ("base", base), ("theirs", theirs)):
            path = Path(scratch) / name
            path.write_bytes(content)
            paths.append(str(path))
        argv = ["git", "merge-file", "-p"]
        for label in labels:
            argv += ["-L", label]
        done = subprocess.run([*argv, *paths], capture_output=True, check=False)
    if done.returncode > _MERGE_FAILED:
        raise TemplateVersionError(f"git merge-file failed: {done.stderr.decode().strip()}")
    return done.stdout, done.returncode


def _plan(root: Path, base: dict[str, bytes], theirs: dict[str, bytes], labels: list[str]) -> _Plan:
    plan = _Plan()
    for rel in sorted(base.keys() | theirs.keys()):
        path = root / rel
        old, new = base.get(rel), theirs.get(rel)
        ours = path.read_bytes() if path.is_file() else None
        if old == new or ours == new:
            continue  # the template did not change it, or the plugin already has the change
        if ours is None:
            if old is None:
                plan.writes[path] = new or b""
                plan.lines.append(f"  added     {rel}")
            else:
                plan.lines.append(
                    f"  deleted   {rel} (by you; the template changed it: kept deleted)"
                )
        elif new is None:
            if ours == old:
                plan.removals.append(path)
                plan.lines.append(f"  removed   {rel}")
            else:
                plan.conflicts.append(f"{rel} (removed by the template, edited by you: kept)")
        elif ours == old:
            plan.writes[path] = new
            plan.lines.append(f"  updated   {rel}")
        else:
            merged, conflicts = _merge_file(ours, old or b"", new, labels)
            plan.writes[path] = merged
            if conflicts:
                plan.conflicts.append(f"{rel} ({conflicts} conflict(s) between markers)")
                plan.lines.append(f"  CONFLICT  {rel}")
            else:
                plan.lines.append(f"  merged    {rel}")
    return plan


def _apply(plan: _Plan) -> None:
    for path, content in plan.writes.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_bytes(content)
        partial.replace(path)
    for path in plan.removals:
        path.unlink()


def update_plugin(
    root: Path, template: Path, name: str, base_rev: str | None, given: dict[str, Any]
) -> int:
    """Merge the template's changes since ``name`` was generated into the plugin at ``root``.

    ``given`` (``--kind``, ``--description``) stands in for an answers file the plugin lacks.
    """
    plugin = root / "src/python/prism/plugins" / name
    if not plugin.is_dir():
        return _fail(f"no plugin {name!r}: {plugin} does not exist")
    answers_file = answers_path(root, name)
    base: TemplateVersion | str
    if answers_file.is_file():
        try:
            answers, recorded = read_answers(answers_file)
        except TemplateVersionError as exc:
            return _fail(str(exc))
        if answers.get("name") != name:
            return _fail(f"{answers_file} records the plugin {answers.get('name')!r}, not {name!r}")
        if given:
            options = " and ".join(f"--{key}" for key in given)
            return _fail(f"{options}: the answers are recorded in {answers_file}")
    else:
        answers, recorded = {"name": name, **given}, None
    if base_rev is not None:
        base = base_rev
    elif recorded is not None:
        base = recorded
    else:
        why = "has no template version" if answers_file.is_file() else "is missing"
        return _fail(
            f"{answers_file} {why}, so the template {name!r} was generated from is unknown: "
            "pass --base REV (the commit whose templates/plugin generated it)"
        )
    import copier  # lazily, for the errors a render raises: only new-plugin needs it

    with tempfile.TemporaryDirectory() as scratch:
        old_template, old_out, new_out = (Path(scratch) / d for d in ("base", "old", "new"))
        try:
            current = template_version(template)
            used = export_template(template, base, old_template)
            _render(old_template, answers, old_out)
            answers = _render(template, answers, new_out)
        except TemplateVersionError as exc:
            return _fail(str(exc), code=1)
        except (copier.errors.CopierError, ValueError) as exc:
            return _fail(f"rendering the template for {name!r} failed: {exc}", code=1)
        labels = [
            f"{name} (yours)",
            f"template {used.split(':')[0][:12]}",
            f"template {current.tree[:12] if current else 'now'}",
        ]
        try:
            plan = _plan(root, _files(old_out), _files(new_out), labels)
        except TemplateVersionError as exc:
            return _fail(str(exc), code=1)
    _apply(plan)
    write_answers(answers_file, answers, current)
    if not plan.lines and not plan.conflicts:
        print(f"plugin {name!r} already has every change of the template")
        return 0
    print(f"updated plugin {name!r} to the current template ({template}):")
    print("\n".join(plan.lines))
    if current is None:
        print(f"note: {template} is not in git, so {ANSWERS_FILE} records no version")
    if plan.conflicts:
        listed = "".join(f"\n  {c}" for c in plan.conflicts)
        return _fail(
            f"{len(plan.conflicts)} file(s) need your decision (<<<<<<< ======= >>>>>>> marks "
            f"each conflict; nothing of yours was dropped):{listed}",
            code=1,
        )
    return 0

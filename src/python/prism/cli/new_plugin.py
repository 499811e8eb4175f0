"""``prism new-plugin NAME``: generate a working pattern plugin from the repo's Copier template.

Renders ``templates/plugin`` (Copier, through its Python API) into the repo root:
``src/python/prism/plugins/NAME/`` (settings, backend over ``prism.sdk.pool``, plugin with
health checks, ``__main__``, BUILD with ``prism_plugin``) and ``tests/plugins/NAME/`` (the
conformance tests, passing as generated). The template lives in the repo, not in the CLI, so
it is found from the working directory (``pants.toml`` marks the repo root) or ``--template``.
Copier is imported only here, so other commands do not pay for it. The plugin folder gets a
``.copier-answers.yml`` (answers and template version) so that ``--update`` can merge later
template changes into it (``_plugin_update``). See docs/new-plugin.md.
"""

from __future__ import annotations

import argparse
import keyword
import re
import shutil
import sys
from pathlib import Path
from typing import Any

from prism.cli._plugin_update import update_plugin
from prism.cli._template_version import (
    TemplateVersionError,
    answers_path,
    remembered_answers,
    template_version,
    write_answers,
)

KINDS = ("keyvalue", "pubsub")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def add_parser(commands: Any) -> None:
    p = commands.add_parser(
        "new-plugin",
        help="generate a pattern plugin (Copier template)",
        description="Generate src/python/prism/plugins/NAME and tests/plugins/NAME from "
        "templates/plugin: a plugin that serves, passes its conformance tests and packages "
        "as a wheel as generated; put your backend client where backend.py says so.",
    )
    p.add_argument("name", help="plugin name: a lowercase Python identifier (e.g. mystore)")
    p.add_argument("--kind", choices=KINDS, help="what it serves (default: keyvalue)")
    p.add_argument("--description", help="one line for the wheel's metadata")
    p.add_argument(
        "--dest",
        type=Path,
        help="repo root to generate into (default: the repo around the working directory)",
    )
    p.add_argument("--template", type=Path, help="template folder (default: DEST/templates/plugin)")
    p.add_argument(
        "--defaults",
        action="store_true",
        help="ask nothing: defaults for every answer not given (implied without a terminal)",
    )
    p.add_argument(
        "--update",
        action="store_true",
        help="bring the existing plugin NAME up to the current template, keeping your edits "
        "(three-way merge; conflicts are marked and listed, exit status 1)",
    )
    p.add_argument(
        "--base",
        metavar="REV",
        help="with --update: the git revision whose template generated NAME (default: the "
        "version in its .copier-answers.yml)",
    )
    p.set_defaults(func=run)


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a plugin name, or None when it can."""
    if not _NAME.match(name):
        return (
            f"plugin name {name!r} is not a lowercase Python identifier "
            "(a letter, then letters, digits or underscores)"
        )
    if keyword.iskeyword(name):
        return f"plugin name {name!r} is a Python keyword"
    return None


def find_repo_root(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` holding ``pants.toml``."""
    for folder in (start, *start.parents):
        if (folder / "pants.toml").is_file():
            return folder
    return None


def plugin_paths(root: Path, name: str) -> list[Path]:
    """The two folders a plugin named ``name`` occupies in the repo at ``root``."""
    return [root / "src/python/prism/plugins" / name, root / "tests/plugins" / name]


def _fail(message: str, code: int = 2) -> int:
    print(f"prism new-plugin: {message}", file=sys.stderr)
    return code


def run(args: argparse.Namespace) -> int:
    problem = name_problem(args.name)
    if problem is not None:
        return _fail(problem)
    if args.description is not None and (
        not args.description.strip() or any(c in args.description for c in '"\\\n')
    ):
        return _fail('--description must be one non-empty line without " or \\')
    root = args.dest if args.dest is not None else find_repo_root(Path.cwd())
    if root is None:
        return _fail(f"no pants.toml in {Path.cwd()} or above: run inside the repo or use --dest")
    if not root.is_dir():
        return _fail(f"--dest {root} is not a folder")
    root = root.resolve()
    template = args.template if args.template is not None else root / "templates" / "plugin"
    if not (template / "copier.yml").is_file():
        return _fail(f"no Copier template at {template} (copier.yml missing): use --template")
    if args.update:
        given = {k: v for k in ("kind", "description") if (v := getattr(args, k)) is not None}
        return update_plugin(root, template.resolve(), args.name, args.base, given)
    if args.base is not None:
        return _fail("--base goes with --update")
    existing = [p for p in plugin_paths(root, args.name) if p.exists()]
    if existing:
        where = ", ".join(str(p) for p in existing)
        return _fail(f"plugin {args.name!r} already exists: {where}", code=1)

    data: dict[str, Any] = {"name": args.name}
    if args.kind is not None:
        data["kind"] = args.kind
    if args.description is not None:
        data["description"] = args.description
    import copier  # lazily: only this command needs it

    try:
        version = template_version(template)
    except TemplateVersionError as exc:
        print(f"prism new-plugin: warning: no template version recorded ({exc})", file=sys.stderr)
        version = None
    try:
        worker = copier.run_copy(
            str(template.resolve()),
            str(root),
            data=data,
            defaults=args.defaults or not sys.stdin.isatty(),
            overwrite=False,
            quiet=True,
        )
    except (copier.errors.CopierError, ValueError) as exc:
        _remove_partial(root, args.name)
        return _fail(f"generating from {template} failed: {exc}", code=1)
    except KeyboardInterrupt:
        _remove_partial(root, args.name)
        return _fail("cancelled", code=130)
    answers = remembered_answers(worker)
    write_answers(answers_path(root, args.name), answers, version)
    _report(root, args.name, str(answers.get("kind", "keyvalue")))
    return 0


def _remove_partial(root: Path, name: str) -> None:
    """Remove what a failed run wrote (the folders did not exist before it)."""
    for folder in plugin_paths(root, name):
        shutil.rmtree(folder, ignore_errors=True)


def _report(root: Path, name: str, kind: str) -> None:
    print(f"created plugin {name!r} in {root}:")
    for folder in plugin_paths(root, name):
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                print(f"  {path.relative_to(root)}")
    print(
        "next:\n"
        f"  test it:     ./pants test tests/plugins/{name}::\n"
        f"  wheel:       ./pants package src/python/prism/plugins/{name}:dist\n"
        f"  backend:     src/python/prism/plugins/{name}/backend.py, "
        'the places marked "BACKEND CLIENT"\n'
        f"  ./prism up:  map a namespace to it: {{plugin: {name}}} (found by its folder)\n"
        f"  load test:   ./prism-loadtest {'pubsub' if kind == 'pubsub' else 'kv'} --plugin {name}"
        f"   (ghz: tests/load/ghz/run.sh --plugin {name})"
    )

"""Count lines of code per plugin (and the SDK): no blanks, comments or docstrings, no tests.

Usage: python3 tools/loc.py [--json PATH]. Standard library only. Every plugin folder under
src/python/prism/plugins/ is counted (no list: a new plugin shows up by existing). Docstrings
are left out so that documenting a plugin never counts against it; the memo's targets, which
are lines of logic, are in docs/plugins.md next to the figures.
"""

from __future__ import annotations

import argparse
import ast
import io
import json
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = ROOT / "src/python/prism/plugins"


def docstring_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                if isinstance(body[0].value.value, str):
                    lines.update(range(body[0].lineno, (body[0].end_lineno or 0) + 1))
    return lines


def code_lines(path: Path) -> int:
    source = path.read_text(encoding="utf-8")
    skip = docstring_lines(ast.parse(source))
    counted: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type in (
            tokenize.COMMENT,
            tokenize.NL,
            tokenize.NEWLINE,
            tokenize.INDENT,
            tokenize.DEDENT,
            tokenize.ENDMARKER,
        ):
            continue
        for line in range(tok.start[0], tok.end[0] + 1):
            if line not in skip:
                counted.add(line)
    return len(counted)


def package_loc(folder: Path) -> int:
    return sum(code_lines(p) for p in sorted(folder.rglob("*.py")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the table as JSON")
    args = parser.parse_args(argv)
    rows = [
        {"plugin": folder.name, "loc": package_loc(folder)}
        for folder in sorted(PLUGINS.iterdir())
        if folder.is_dir() and any(folder.glob("*.py"))
    ]
    sdk = package_loc(ROOT / "src/python/prism/sdk")
    print(f"{'plugin':10} {'LOC':>5}")
    for r in rows:
        print(f"{r['plugin']:10} {r['loc']:>5}")
    print(f"{'sdk':10} {sdk:>5}")
    if args.json:
        args.json.write_text(json.dumps({"plugins": rows, "sdk": sdk}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Fail when line coverage of a package falls under its floor (prism.sdk: 90%).

Reads the JSON report `pants test --use-coverage` writes (dist/coverage/python/coverage.json).
Coverage is a floor, not a goal: this only guards against the SDK's tests falling behind.
Standard library only.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def package_coverage(report: dict[str, object], prefix: str) -> tuple[int, int]:
    covered = statements = 0
    files = report["files"]
    assert isinstance(files, dict)
    for path, data in files.items():
        if path.replace("\\", "/").startswith(prefix):
            summary = data["summary"]
            covered += summary["covered_lines"]
            statements += summary["num_statements"]
    return covered, statements


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "report", type=Path, nargs="?", default=Path("dist/coverage/python/coverage.json")
    )
    parser.add_argument("--package", default="src/python/prism/sdk/")
    parser.add_argument("--floor", type=float, default=90.0)
    args = parser.parse_args(argv)
    report = json.loads(args.report.read_text(encoding="utf-8"))
    covered, statements = package_coverage(report, args.package)
    if statements == 0:
        print(f"no coverage data for {args.package} in {args.report}", file=sys.stderr)
        return 1
    percent = 100.0 * covered / statements
    verdict = "ok" if percent >= args.floor else "BELOW THE FLOOR"
    print(
        f"coverage of {args.package}: {percent:.1f}% of {statements} lines "
        f"(floor {args.floor:.0f}%): {verdict}"
    )
    return 0 if percent >= args.floor else 1


if __name__ == "__main__":
    sys.exit(main())

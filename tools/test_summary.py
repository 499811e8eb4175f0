"""Sum the JUnit XML reports that `pants test` writes into one closing line.

Pants prints one line per test file; CI and people want the totals, and a run that executed no
test at all must fail rather than pass quietly. Standard library only: it runs before any venv.
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def count(reports: Path) -> tuple[int, int, int, list[str]]:
    passed = failed = skipped = 0
    failures: list[str] = []
    for path in sorted(reports.rglob("*.xml")):
        root = ET.parse(path).getroot()
        for case in root.iter("testcase"):
            name = f"{case.get('classname', '')}::{case.get('name', '')}"
            if case.find("failure") is not None or case.find("error") is not None:
                failed += 1
                failures.append(name)
            elif case.find("skipped") is not None:
                skipped += 1
            else:
                passed += 1
    return passed, failed, skipped, failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("reports", type=Path, nargs="?", default=Path("dist/test/reports"))
    args = parser.parse_args(argv)
    if not args.reports.is_dir():
        print(f"no test reports under {args.reports}: no test ran", file=sys.stderr)
        return 1
    passed, failed, skipped, failures = count(args.reports)
    for name in failures:
        print(f"FAILED {name}")
    print(f"Tests: {passed} passed, {failed} failed, {skipped} skipped")
    if passed + failed == 0:
        print("no test was executed", file=sys.stderr)
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

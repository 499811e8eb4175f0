"""``python -m prism.loadtest`` / the ``prism-loadtest`` PEX: see :mod:`prism.loadtest.cli`."""

from __future__ import annotations

import sys

from prism.loadtest.cli import main as _cli_main

__all__ = ["main"]


def main() -> None:
    sys.exit(_cli_main())


if __name__ == "__main__":
    main()

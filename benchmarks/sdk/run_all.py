"""Run every SDK benchmark in one go: `./pants run benchmarks/sdk:all [-- --quick]`.

Each benchmark measures its baseline in the same run and prints ratios; this runner adds one
JSON report per benchmark under --out (default reports/benchmarks/) so runs can be compared.
The server's per-call cost (bare grpc.aio vs plugin vs gateway) is benchmarks/proxy:bench_proxy.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import bench_pool
import bench_ttl

BENCHMARKS: dict[str, Callable[[Sequence[str] | None], int]] = {
    "ttl": bench_ttl.main,
    "pool": bench_pool.main,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke sizes (CI)")
    parser.add_argument("--out", type=Path, default=None, help="JSON report folder")
    parser.add_argument("only", nargs="*", help="subset to run")
    args = parser.parse_args(argv)
    # `pants run` starts in the build root; PRISM_CWD (set by ./prism-style wrappers) wins.
    base = Path(os.environ.get("PRISM_CWD", "."))
    out = args.out or base / "reports" / "benchmarks"
    out.mkdir(parents=True, exist_ok=True)
    failed = 0
    for name in args.only or list(BENCHMARKS):
        started = time.monotonic()
        print(f"\n=== benchmark {name} ===", flush=True)
        bench_args = ["--json", str(out / f"{name}.json")] + (["--quick"] if args.quick else [])
        rc = BENCHMARKS[name](bench_args)
        print(f"=== {name}: exit {rc} in {time.monotonic() - started:.1f} s", flush=True)
        failed += rc != 0
    print(f"\nJSON reports in {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

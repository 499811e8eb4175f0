"""`python -m prism.plugins.memstore` / `prism-plugin-memstore`: serve MemStore."""

from prism.plugins.memstore.plugin import MemStorePlugin
from prism.sdk.plugin import run_plugin


def main() -> None:
    raise SystemExit(run_plugin(MemStorePlugin))


if __name__ == "__main__":
    main()

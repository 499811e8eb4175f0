"""`python -m prism.plugins.multicast` / `prism-plugin-multicast`: serve the multicast registry."""

from prism.plugins.multicast.plugin import MulticastPlugin
from prism.sdk.plugin import run_plugin


def main() -> None:
    raise SystemExit(run_plugin(MulticastPlugin))


if __name__ == "__main__":
    main()

"""`python -m prism.plugins.cassandra` / `prism-plugin-cassandra`: serve the cassandra plugin."""

from prism.plugins.cassandra.plugin import CassandraPlugin
from prism.sdk.plugin import run_plugin


def main() -> None:
    raise SystemExit(run_plugin(CassandraPlugin))


if __name__ == "__main__":
    main()

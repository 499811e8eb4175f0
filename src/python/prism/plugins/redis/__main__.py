"""`python -m prism.plugins.redis` / `prism-plugin-redis`: serve the Redis plugin."""

from prism.plugins.redis.plugin import RedisPlugin
from prism.sdk.plugin import run_plugin


def main() -> None:
    raise SystemExit(run_plugin(RedisPlugin))


if __name__ == "__main__":
    main()

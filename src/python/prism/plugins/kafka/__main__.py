"""`python -m prism.plugins.kafka` / `prism-plugin-kafka`: serve the Kafka plugin."""

from prism.plugins.kafka.plugin import KafkaPlugin
from prism.sdk.plugin import run_plugin


def main() -> None:
    raise SystemExit(run_plugin(KafkaPlugin))


if __name__ == "__main__":
    main()

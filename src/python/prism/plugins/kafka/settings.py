"""KafkaSettings: ``PRISM_KAFKA_*``, and the librdkafka config they make."""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr

from prism.sdk.config import Duration, PluginSettings, SettingsConfigDict

_PASSTHROUGH = ("security_", "sasl_", "ssl_")  # field prefixes copied to librdkafka as a.b.c


class KafkaSettings(PluginSettings):
    """``PRISM_KAFKA_*``. Security fields map 1:1 to librdkafka (``sasl_username`` ->
    ``sasl.username``); ``extra`` (JSON object) passes any other librdkafka setting."""

    model_config = SettingsConfigDict(env_prefix="PRISM_KAFKA_")

    bootstrap_servers: str = Field(default="127.0.0.1:9092", min_length=1)
    client_id: str = "prism-plugin-kafka"
    publish_timeout: Duration = Field(
        default=5.0, gt=0, description="Bound on one Publish (acks=all)."
    )
    subscribe_timeout: Duration = Field(
        default=30.0, gt=0, description="Bound on joining the group."
    )
    topic_partitions: int = Field(
        default=1, ge=1, description="Partitions of topics the plugin creates."
    )
    security_protocol: str | None = None
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_location: str | None = None
    ssl_certificate_location: str | None = None
    ssl_key_location: str | None = None
    ssl_key_password: SecretStr | None = None
    extra: dict[str, str] = Field(default_factory=dict, description="Other librdkafka settings.")

    def librdkafka(self) -> dict[str, Any]:
        """The settings every client (producer, consumers, admin) shares."""
        config: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "client.id": self.client_id,
        }
        for field in (name for name in type(self).model_fields if name.startswith(_PASSTHROUGH)):
            value = getattr(self, field)
            if value is not None:
                secret = isinstance(value, SecretStr)
                config[field.replace("_", ".")] = value.get_secret_value() if secret else value
        return {**config, **self.extra}

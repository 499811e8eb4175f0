"""KafkaSettings: ``PRISM_KAFKA_*``, and the librdkafka config they make."""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr, model_validator

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
    deadline_margin: Duration = Field(
        default=0.5,
        description="A Publish the cluster has not acknowledged this long before the caller's "
        "deadline (at most half the caller's time) fails UNAVAILABLE, so the caller gets a "
        "retryable answer instead of DEADLINE_EXCEEDED.",
    )
    breaker_open_seconds: Duration = Field(
        default=1.0, description="Publish breaker: open time before a probe."
    )
    subscribe_timeout: Duration = Field(
        default=30.0, gt=0, description="Bound on joining the group."
    )
    session_timeout: Duration = Field(
        default=10.0,
        gt=0,
        description="Consumer group session: how long a crashed plugin's partitions stay "
        "with it before the group hands them on. The broker bounds it "
        "(group.min.session.timeout.ms, 6 s by default).",
    )
    heartbeat_interval: Duration = Field(
        default=3.0, gt=0, description="Consumer group heartbeat; below session_timeout."
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

    @model_validator(mode="after")
    def _check_heartbeat(self) -> KafkaSettings:
        if self.heartbeat_interval >= self.session_timeout:
            raise ValueError(
                f"heartbeat_interval ({self.heartbeat_interval:g}s) must be below "
                f"session_timeout ({self.session_timeout:g}s)"
            )
        return self

    def consumer_librdkafka(self) -> dict[str, Any]:
        """What a consumer adds to :meth:`librdkafka` (``extra`` still wins)."""
        return {
            "session.timeout.ms": int(self.session_timeout * 1000),
            "heartbeat.interval.ms": int(self.heartbeat_interval * 1000),
        }

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

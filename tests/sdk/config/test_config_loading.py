"""load_settings: layering, env prefixes, YAML, overrides, secrets and ConfigError."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import Field, SecretStr

from prism.sdk.config import (
    ConfigError,
    Duration,
    PluginSettings,
    SettingsConfigDict,
    env_name,
    load_settings,
    settings_summary,
)


class RedisSettings(PluginSettings):
    model_config = SettingsConfigDict(env_prefix="PRISM_REDIS_", extra="forbid")

    addr: str
    password: SecretStr = SecretStr("")
    db: int = Field(0, ge=0)
    dial_timeout: Duration = 1.0
    tags: list[str] = []


def test_defaults_and_required() -> None:
    s = load_settings(RedisSettings, environ={"PRISM_REDIS_ADDR": "localhost:6379"})
    assert s.addr == "localhost:6379"
    assert s.host == "127.0.0.1"
    assert s.port == 0
    assert s.drain_timeout == 10.0
    assert s.health_interval == 5.0
    assert s.log_level == "INFO"
    assert s.log_format == "text"
    assert s.metrics_port is None
    assert s.dial_timeout == 1.0


def test_env_prefix_types_and_durations() -> None:
    env = {
        "PRISM_REDIS_ADDR": "redis:6379",
        "prism_redis_port": "7000",  # env names are case-insensitive
        "PRISM_REDIS_DRAIN_TIMEOUT": "250ms",
        "PRISM_REDIS_DIAL_TIMEOUT": "1m",
        "PRISM_REDIS_LOG_LEVEL": "debug",
        "PRISM_REDIS_LOG_FORMAT": "json",
        "PRISM_REDIS_METRICS_PORT": "9100",
        "PRISM_REDIS_TAGS": '["a", "b"]',
        "PRISM_ADDR": "ignored: wrong prefix",
    }
    s = load_settings(RedisSettings, environ=env)
    assert (s.addr, s.port, s.metrics_port) == ("redis:6379", 7000, 9100)
    assert s.drain_timeout == pytest.approx(0.25)
    assert s.dial_timeout == 60.0
    assert s.log_level == "DEBUG"
    assert s.log_format == "json"
    assert s.tags == ["a", "b"]


def test_base_settings_use_prism_prefix() -> None:
    s = load_settings(PluginSettings, environ={"PRISM_PORT": "8080"})
    assert s.port == 8080
    assert env_name(PluginSettings, "port") == "PRISM_PORT"
    assert env_name(RedisSettings, "addr") == "PRISM_REDIS_ADDR"


def test_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRISM_REDIS_ADDR", "from-os:1")
    assert load_settings(RedisSettings).addr == "from-os:1"


def test_one_error_names_every_problem_by_env_var() -> None:
    env = {
        "PRISM_REDIS_PORT": "abc",
        "PRISM_REDIS_DRAIN_TIMEOUT": "soon",
        "PRISM_REDIS_LOG_FORMAT": "xml",
        "PRISM_REDIS_LOG_LEVEL": "loud",
        "PRISM_REDIS_DB": "-1",
    }
    with pytest.raises(ConfigError) as info:
        load_settings(RedisSettings, environ=env)
    err = info.value
    text = str(err)
    assert "invalid configuration for RedisSettings" in text
    assert "PRISM_REDIS_ADDR: field required" in err.problems
    for var in (
        "PRISM_REDIS_PORT",
        "PRISM_REDIS_DRAIN_TIMEOUT",
        "PRISM_REDIS_LOG_FORMAT",
        "PRISM_REDIS_LOG_LEVEL",
        "PRISM_REDIS_DB",
    ):
        assert any(p.startswith(f"{var}: ") for p in err.problems), (var, err.problems)
        assert var in text
    assert len(err.problems) == 6
    port = next(p for p in err.problems if p.startswith("PRISM_REDIS_PORT"))
    assert "'abc'" in port
    assert "invalid duration 'soon'" in text


def test_secrets_never_shown() -> None:
    env = {"PRISM_REDIS_ADDR": "r:1", "PRISM_REDIS_PASSWORD": "hunter2"}
    s = load_settings(RedisSettings, environ=env)
    assert s.password.get_secret_value() == "hunter2"
    assert "hunter2" not in repr(s)
    assert "hunter2" not in str(s)
    summary = settings_summary(s)
    assert summary["password"] == "**********"
    assert "hunter2" not in str(summary)
    assert summary["addr"] == "r:1"
    assert summary["drain_timeout"] == 10.0
    # An invalid secret is reported without its value.

    class Strict(PluginSettings):
        model_config = SettingsConfigDict(env_prefix="PRISM_S_")
        token: SecretStr = Field(SecretStr("x"), min_length=10)

    with pytest.raises(ConfigError) as info:
        load_settings(Strict, environ={"PRISM_S_TOKEN": "hunter2"})
    assert "PRISM_S_TOKEN" in str(info.value)
    assert "hunter2" not in str(info.value)


def test_summary_masks_secret_named_plain_fields_and_nests() -> None:
    from pydantic import BaseModel

    class Auth(BaseModel):
        api_token: str = "plain-but-secret"
        user: str = "bob"

    class S(PluginSettings):
        model_config = SettingsConfigDict(env_prefix="PRISM_T_")
        auth: Auth = Auth()
        empty_password: SecretStr = SecretStr("")

    summary = settings_summary(load_settings(S, environ={}))
    assert summary["auth"] == {"api_token": "**********", "user": "bob"}
    assert summary["empty_password"] == ""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "redis.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_yaml_file_below_env(tmp_path: Path) -> None:
    path = write(tmp_path, "addr: yaml:6379\nport: 7001\ndial_timeout: 2s\n")
    s = load_settings(RedisSettings, yaml_file=path, environ={"PRISM_REDIS_PORT": "7002"})
    assert s.addr == "yaml:6379"
    assert s.port == 7002  # env beats YAML
    assert s.dial_timeout == 2.0


def test_yaml_path_from_env(tmp_path: Path) -> None:
    path = write(tmp_path, "addr: from-file:1\n")
    s = load_settings(RedisSettings, environ={"PRISM_REDIS_CONFIG_FILE": str(path)})
    assert s.addr == "from-file:1"


def test_yaml_errors_name_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "addr: a:1\nport: nope\nbogus: 1\n")
    with pytest.raises(ConfigError) as info:
        load_settings(RedisSettings, yaml_file=path, environ={})
    problems = info.value.problems
    assert f"{path}: unknown setting 'bogus'" in problems
    port = next(p for p in problems if p.startswith("PRISM_REDIS_PORT: "))
    assert str(path) in port and "'port'" in port


@pytest.mark.parametrize(
    ("text", "expected"),
    [("addr: [unclosed\n", "invalid YAML"), ("- a\n- b\n", "expected a mapping")],
)
def test_bad_yaml_file(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(RedisSettings, yaml_file=path, environ={"PRISM_REDIS_ADDR": "a:1"})
    assert info.value.problems[0].startswith(f"{path}: {expected}")


def test_missing_and_empty_yaml_file(tmp_path: Path) -> None:
    missing = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError) as info:
        load_settings(RedisSettings, yaml_file=missing, environ={"PRISM_REDIS_ADDR": "a:1"})
    assert len(info.value.problems) == 1
    assert info.value.problems[0].startswith(f"{missing}: cannot read config file (")
    empty = write(tmp_path, "")
    assert load_settings(RedisSettings, yaml_file=empty, environ={"PRISM_REDIS_ADDR": "a:1"})


def test_overrides_beat_env_and_are_parsed_like_env(tmp_path: Path) -> None:
    path = write(tmp_path, "port: 1\n")
    s = load_settings(
        RedisSettings,
        yaml_file=path,
        environ={"PRISM_REDIS_ADDR": "env:1", "PRISM_REDIS_PORT": "2"},
        overrides={"addr": "override:1", "port": "3", "drain_timeout": "1s"},
    )
    assert (s.addr, s.port, s.drain_timeout) == ("override:1", 3, 1.0)


def test_unknown_or_invalid_overrides_are_named() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(
            RedisSettings,
            environ={"PRISM_REDIS_ADDR": "a:1"},
            overrides={"adr": "x", "zzz": "y", "port": "high"},
        )
    problems = info.value.problems
    assert problems[0].startswith("unknown setting(s) in overrides: adr, zzz (known: ")
    port = next(p for p in problems if p.startswith("PRISM_REDIS_PORT: "))
    assert "from override 'port'" in port


def test_bad_json_in_complex_env_value() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(RedisSettings, environ={"PRISM_REDIS_ADDR": "a", "PRISM_REDIS_TAGS": "[x"})
    assert any("environment:" in p and "tags" in p for p in info.value.problems)


def test_nested_error_location() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(
            RedisSettings, environ={"PRISM_REDIS_ADDR": "a"}, overrides={"tags": ["ok", 5]}
        )
    assert any(p.startswith("PRISM_REDIS_TAGS[1]: ") for p in info.value.problems)


def test_alias_env_name() -> None:
    class Aliased(PluginSettings):
        model_config = SettingsConfigDict(env_prefix="PRISM_A_")
        url: str = Field("x", validation_alias="legacy_url")

    assert env_name(Aliased, "url") == "LEGACY_URL"

"""load_settings: defaults < YAML file < environment < Initialize overrides, one ConfigError."""

from __future__ import annotations

import os
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, SecretBytes, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsError
from pydantic_settings.sources.utils import parse_env_vars

from prism.sdk.config.errors import ConfigError

S = TypeVar("S", bound=BaseSettings)

CONFIG_FILE_SUFFIX = "CONFIG_FILE"
_SECRET_NAME_HINTS = ("password", "secret", "token", "credential")
MASK = "**********"


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' env source reading a given mapping instead of ``os.environ``.

    Keeps its parsing rules (prefix, case-insensitivity, JSON for complex fields) while letting
    tests and embedders pass an explicit environment.
    """

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(
            self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )


@dataclass(frozen=True)
class _Origin:
    kind: str  # "yaml" | "env" | "override"
    detail: str = ""


def env_prefix(cls: type[BaseSettings]) -> str:
    return str(cls.model_config.get("env_prefix") or "")


def env_name(cls: type[BaseSettings], field_name: str) -> str:
    """The environment variable an operator sets for ``field_name`` (e.g. PRISM_REDIS_ADDR)."""
    field = cls.model_fields.get(field_name)
    if field is not None and isinstance(field.validation_alias, str):
        return field.validation_alias.upper()
    return f"{env_prefix(cls)}{field_name}".upper()


def _lookup(environ: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in environ.items():
        if key.lower() == wanted:
            return value
    return None


def _is_secret_annotation(annotation: Any) -> bool:
    if annotation in (SecretStr, SecretBytes):
        return True
    return any(_is_secret_annotation(arg) for arg in typing.get_args(annotation))


def is_secret_field(name: str, field: FieldInfo) -> bool:
    """SecretStr/SecretBytes fields, plus plain fields whose name says secret (belt and braces)."""
    lowered = name.lower()
    return _is_secret_annotation(field.annotation) or any(h in lowered for h in _SECRET_NAME_HINTS)


def _read_yaml(path: Path, problems: list[str]) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        problems.append(f"{path}: cannot read config file ({exc.strerror or exc})")
        return {}
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        problems.append(f"{path}: invalid YAML ({exc})")
        return {}
    if data is None:
        return {}
    if not isinstance(data, dict):
        problems.append(f"{path}: expected a mapping of setting names to values")
        return {}
    return {str(k): v for k, v in data.items()}


def load_settings(
    cls: type[S],
    *,
    overrides: Mapping[str, object] | None = None,
    yaml_file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> S:
    """Build ``cls`` from defaults < YAML < environment < overrides, or raise one ConfigError.

    The YAML path comes from ``yaml_file`` or the ``<PREFIX>CONFIG_FILE`` env var; its keys
    and the override keys are field names (``addr``), env vars are prefixed (``PRISM_REDIS_ADDR``).
    Overrides are what ``LifecycleInterface.Initialize`` sends (string values are parsed like
    env values); an unknown field name there or in the file is an error naming it.
    """
    env = os.environ if environ is None else environ
    fields = cls.model_fields
    problems: list[str] = []
    data: dict[str, Any] = {}
    origins: dict[str, _Origin] = {}

    path_text = str(yaml_file) if yaml_file is not None else None
    if path_text is None:
        path_text = _lookup(env, env_prefix(cls) + CONFIG_FILE_SUFFIX) or None
    if path_text is not None:
        path = Path(path_text)
        for key, value in _read_yaml(path, problems).items():
            if key not in fields:
                problems.append(f"{path}: unknown setting {key!r}")
                continue
            data[key] = value
            origins[key] = _Origin("yaml", f"from {path}, key {key!r}")

    try:
        env_values = _MappingEnvSource(cls, env)()
    except SettingsError as exc:
        problems.append(f"environment: {exc}")
        env_values = {}
    for key, value in env_values.items():
        data[key] = value
        origins[key] = _Origin("env")

    unknown = sorted(k for k in (overrides or {}) if k not in fields)
    if unknown:
        problems.append(
            f"unknown setting(s) in overrides: {', '.join(unknown)} "
            f"(known: {', '.join(sorted(fields))})"
        )
    for key, value in (overrides or {}).items():
        if key in fields:
            data[key] = value
            origins[key] = _Origin("override", f"from override {key!r}")

    settings: S | None = None
    try:
        settings = cls.model_validate(data)
    except ValidationError as exc:
        problems.extend(_describe(cls, exc, data, origins))
    if problems or settings is None:
        raise ConfigError(cls.__name__, problems)
    return settings


def _describe(
    cls: type[BaseSettings],
    exc: ValidationError,
    data: Mapping[str, Any],
    origins: Mapping[str, _Origin],
) -> list[str]:
    out: list[str] = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = err["loc"]
        field_name = str(loc[0]) if loc else ""
        name = env_name(cls, field_name) if field_name else cls.__name__
        sub = "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in loc[1:])
        if err["type"] == "missing":
            out.append(f"{name}{sub}: field required")
            continue
        msg = str(err["msg"])
        field = cls.model_fields.get(field_name)
        if field is not None and not is_secret_field(field_name, field) and field_name in data:
            if not sub:
                msg += f" (got {data[field_name]!r})"
        origin = origins.get(field_name)
        if origin is not None and origin.detail:
            msg += f" ({origin.detail})"
        out.append(f"{name}{sub}: {msg}")
    return out


def settings_summary(settings: BaseModel) -> dict[str, object]:
    """Settings as a JSON-friendly dict for a startup log line, with every secret masked."""
    summary: dict[str, object] = {}
    dumped = settings.model_dump(mode="json")
    for name, field in type(settings).model_fields.items():
        value = getattr(settings, name)
        if isinstance(value, BaseModel):
            summary[name] = settings_summary(value)
        elif is_secret_field(name, field):
            raw = value.get_secret_value() if isinstance(value, SecretStr | SecretBytes) else value
            summary[name] = None if raw is None else (MASK if raw else "")
        else:
            summary[name] = dumped[name]
    return summary

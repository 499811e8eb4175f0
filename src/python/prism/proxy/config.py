"""The proxy's YAML configuration: which namespace is served by which plugin instance.

Example::

    port: 8980
    namespaces:
      default: {plugin: memstore}                 # python -m prism.plugins.memstore
      cache:
        plugin: redis
        settings: {addr: "127.0.0.1:6379"}        # sent as LifecycleInterface.Initialize config
      events: {instance: kafka-main}              # shares an instance with other namespaces
      legacy: {endpoint: "127.0.0.1:9001"}        # a plugin that is already running
    instances:
      kafka-main:
        module: prism.plugins.kafka
        settings: {bootstrap_servers: "127.0.0.1:9092"}
        env: {PRISM_KAFKA_LOG_LEVEL: DEBUG}

Namespaces with identical inline specs share one instance. Validation is a pydantic model
(one place that knows every field); what we add is the operator experience: every problem is
reported as ``file:line: what is wrong``, using the line marks of the composed YAML nodes,
because "namespaces.cache.plugin: field required" is hard to find in a long file.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from prism.sdk.config import Duration
from prism.sdk.errors import InvalidArgumentError
from prism.sdk.limits import quoted, validate_name
from prism.sdk.plugin.discovery import plugin_modules

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8980
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_ENDPOINT = re.compile(r"^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:.]+\]:\d{1,5}$")

Scalar = str | int | float | bool


class ProxyConfigError(Exception):
    """Invalid proxy configuration; ``problems`` are ``file:line: message`` strings."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid proxy configuration:\n  " + "\n  ".join(self.problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SupervisionConfig(_Strict):
    """How managed plugin processes are watched and restarted."""

    start_timeout: Duration = 30.0
    health_interval: Duration = 2.0
    health_timeout: Duration = 1.0
    restart_initial_backoff: Duration = 0.1
    restart_max_backoff: Duration = 10.0
    # A process that served this long resets the backoff to its initial value.
    restart_reset_after: Duration = 30.0
    drain_timeout: Duration = 5.0
    stop_timeout: Duration = 5.0
    # Circuit breaker per upstream: fail fast while a plugin keeps answering UNAVAILABLE.
    breaker_open_seconds: Duration = 1.0


class BackendSpec(_Strict):
    """Where a plugin instance comes from: exactly one of plugin, module or endpoint."""

    plugin: str | None = None
    module: str | None = None
    endpoint: str | None = None
    settings: dict[str, Scalar] = Field(default_factory=dict)
    env: dict[str, str] = Field(default_factory=dict)

    def _sources(self) -> list[str]:
        return [n for n in ("plugin", "module", "endpoint") if getattr(self, n) is not None]

    @model_validator(mode="after")
    def _check(self) -> BackendSpec:
        sources = self._sources()
        if getattr(self, "instance", None) is not None:
            sources.append("instance")
        if len(sources) != 1:
            allowed = "plugin, module, endpoint"
            if hasattr(self, "instance"):
                allowed += ", instance"
            if not sources:
                raise ValueError(f"needs one of: {allowed}")
            raise ValueError(f"give only one of {allowed} (got {', '.join(sources)})")
        if self.plugin is not None and not _IDENT.match(self.plugin):
            raise ValueError(f"plugin {self.plugin!r} is not a plugin name (e.g. memstore, redis)")
        if self.module is not None and not _MODULE.match(self.module):
            raise ValueError(f"module {self.module!r} is not a Python module name")
        if self.endpoint is not None:
            if not _ENDPOINT.match(self.endpoint):
                raise ValueError(f"endpoint {self.endpoint!r} must be host:port")
            if self.settings or self.env:
                raise ValueError(
                    "settings/env apply to plugins the proxy starts (plugin or module), "
                    "not to an endpoint that is already running"
                )
        return self


class NamespaceConfig(BackendSpec):
    """A namespace: an inline backend spec or ``instance: <name>`` from ``instances:``."""

    instance: str | None = None


class TlsConfig(_Strict):
    """Gateway TLS; ``client_ca`` turns on mutual TLS (client certificate required)."""

    cert: Path
    key: Path
    client_ca: Path | None = None


class TokenConfig(_Strict):
    """Bearer JWTs: keys from a JWKS file or PEM public keys; audience and issuer checked."""

    audience: str
    issuer: str
    jwks: Path | None = None
    public_keys: list[Path] = Field(default_factory=list)
    algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256"])
    leeway: Duration = 0.0

    @model_validator(mode="after")
    def _check(self) -> TokenConfig:
        if self.jwks is None and not self.public_keys:
            raise ValueError("needs jwks or public_keys")
        if any(a.upper().startswith("HS") or a.lower() == "none" for a in self.algorithms):
            raise ValueError("algorithms: only public-key algorithms (RS*, PS*, ES*, EdDSA)")
        return self


class GrantConfig(_Strict):
    """``identities`` (token:<sub>, claim:<name>=<value>, cert:<subject>, or *) may do
    ``allow`` (read, write, subscribe) in ``namespaces`` (names or *)."""

    identities: list[str] = Field(min_length=1)
    namespaces: list[str] = Field(min_length=1)
    allow: list[Literal["read", "write", "subscribe"]] = Field(min_length=1)


class AuthConfig(_Strict):
    """Present: every contract call needs credentials and a grant (deny by default)."""

    tokens: TokenConfig | None = None
    grants: list[GrantConfig] = Field(default_factory=list)


class MetricsConfig(_Strict):
    host: str = DEFAULT_HOST
    port: int = Field(ge=0, le=65535)


class ProxyConfigModel(_Strict):
    host: str = DEFAULT_HOST
    port: int = Field(default=DEFAULT_PORT, ge=0, le=65535)
    namespaces: dict[str, NamespaceConfig] = Field(min_length=1)
    instances: dict[str, BackendSpec] = Field(default_factory=dict)
    supervision: SupervisionConfig = Field(default_factory=SupervisionConfig)
    tls: TlsConfig | None = None
    auth: AuthConfig | None = None
    metrics: MetricsConfig | None = None

    @model_validator(mode="after")
    def _check_auth(self) -> ProxyConfigModel:
        has_certs = self.tls is not None and self.tls.client_ca is not None
        if self.auth is not None and self.auth.tokens is None and not has_certs:
            raise ValueError(
                "auth needs a way in: auth.tokens, or tls.client_ca for client certificates"
            )
        return self


@dataclass(frozen=True)
class InstanceSpec:
    """One upstream: a process the proxy manages (``module``) or a running ``endpoint``."""

    name: str
    module: str | None = None
    endpoint: str | None = None
    settings: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def managed(self) -> bool:
        return self.module is not None

    @property
    def label(self) -> str:
        """Short human description for messages, e.g. ``memstore`` or ``127.0.0.1:9001``."""
        if self.module is None:
            return f"endpoint {self.endpoint}"
        return self.module.removeprefix("prism.plugins.")


@dataclass(frozen=True)
class ProxyConfig:
    """The resolved configuration: instances and the namespace -> instance routing table."""

    host: str
    port: int
    instances: Mapping[str, InstanceSpec]
    routes: Mapping[str, str]
    supervision: SupervisionConfig
    source: str = "<default>"
    tls: TlsConfig | None = None
    auth: AuthConfig | None = None
    metrics: MetricsConfig | None = None


def with_plugin_settings(config: ProxyConfig, settings: Mapping[str, str]) -> ProxyConfig:
    """``config`` with ``settings`` added to (and overriding) every managed plugin's settings.

    For command-line switches that apply to every plugin the proxy starts (``prism up
    --access-log``); endpoint instances run on their own settings and are left alone.
    """
    instances = {
        name: replace(spec, settings={**spec.settings, **settings}) if spec.managed else spec
        for name, spec in config.instances.items()
    }
    return replace(config, instances=instances)


def default_config(port: int = DEFAULT_PORT, host: str = DEFAULT_HOST) -> ProxyConfig:
    """No config file: namespace ``default`` on MemStore (no external server needed)."""
    return parse_config(
        {"port": port, "host": host, "namespaces": {"default": {"plugin": "memstore"}}}
    )


def load_config(path: str | Path) -> ProxyConfig:
    """Read, validate and resolve a YAML config file; ProxyConfigError names file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProxyConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from exc
    config = parse_config_text(text, str(path))
    return _relative_to(config, path.parent)


def _relative_to(config: ProxyConfig, base: Path) -> ProxyConfig:
    """File paths in tls/auth are relative to the config file's directory."""

    def fix(p: Path) -> Path:
        return p if p.is_absolute() else base / p

    tls, auth = config.tls, config.auth
    if tls is not None:
        client_ca = fix(tls.client_ca) if tls.client_ca is not None else None
        tls = tls.model_copy(
            update={"cert": fix(tls.cert), "key": fix(tls.key), "client_ca": client_ca}
        )
    if auth is not None and auth.tokens is not None:
        t = auth.tokens
        jwks = fix(t.jwks) if t.jwks is not None else None
        tokens = t.model_copy(update={"jwks": jwks, "public_keys": [fix(p) for p in t.public_keys]})
        auth = auth.model_copy(update={"tokens": tokens})
    return replace(config, tls=tls, auth=auth)


def parse_config_text(text: str, source: str = "<config>") -> ProxyConfig:
    """Like :func:`load_config` for YAML text; ``source`` names it in messages."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ProxyConfigError([f"{source}{line}: invalid YAML: {exc.problem or exc}"]) from exc
    except yaml.YAMLError as exc:
        raise ProxyConfigError([f"{source}: invalid YAML: {exc}"]) from exc
    if not isinstance(data, dict):
        raise ProxyConfigError(
            [
                f"{source}:1: expected a mapping with a 'namespaces' section, "
                f"got {type(data).__name__}"
            ]
        )
    return parse_config(data, source, root)


def parse_config(
    data: Mapping[str, Any], source: str = "<config>", root: yaml.Node | None = None
) -> ProxyConfig:
    """Validate and resolve an already-parsed config mapping."""

    def where(loc: Sequence[str | int]) -> str:
        line = _line_of(root, loc)
        return f"{source}:{line}" if line is not None else source

    try:
        model = ProxyConfigModel.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = [p for p in err["loc"] if isinstance(p, str | int)]
            dotted = ".".join(str(p) for p in loc) or "(top level)"
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"{where(loc)}: {dotted}: {msg}")
        raise ProxyConfigError(problems) from exc
    return _resolve(model, source, where)


def _resolve(model: ProxyConfigModel, source: str, where: Any) -> ProxyConfig:
    problems: list[str] = []
    instances: dict[str, InstanceSpec] = {}
    for name, spec in model.instances.items():
        built = _instance(name, spec, ("instances", name), where, problems)
        if built is not None:
            instances[name] = built
    routes: dict[str, str] = {}
    shared: dict[tuple[Any, ...], str] = {}
    for ns, nsc in model.namespaces.items():
        loc = ("namespaces", ns)
        try:
            validate_name("namespace", ns)
        except InvalidArgumentError as exc:
            problems.append(f"{where(loc)}: namespaces: {quoted(ns)}: {exc.message}")
            continue
        if nsc.instance is not None:
            if nsc.instance not in model.instances:
                known = ", ".join(sorted(model.instances)) or "none defined"
                problems.append(
                    f"{where((*loc, 'instance'))}: namespaces.{ns}.instance: no instance "
                    f"named {nsc.instance!r} in 'instances' ({known})"
                )
            routes[ns] = nsc.instance
            continue
        built = _instance(ns, nsc, loc, where, problems)
        if built is None:
            continue
        key = (
            built.module,
            built.endpoint,
            tuple(sorted(built.settings.items())),
            tuple(sorted(built.env.items())),
        )
        if key in shared:
            routes[ns] = shared[key]
            continue
        if ns in instances:
            problems.append(f"{where(loc)}: namespaces.{ns}: name clashes with instances.{ns}")
            continue
        shared[key] = ns
        instances[ns] = built
        routes[ns] = ns
    if problems:
        raise ProxyConfigError(problems)
    used = set(routes.values())
    return ProxyConfig(
        host=model.host,
        port=model.port,
        instances={n: s for n, s in instances.items() if n in used},
        routes=routes,
        supervision=model.supervision,
        source=source,
        tls=model.tls,
        auth=model.auth,
        metrics=model.metrics,
    )


def _instance(
    name: str, spec: BackendSpec, loc: tuple[str, ...], where: Any, problems: list[str]
) -> InstanceSpec | None:
    module = spec.module
    if spec.plugin is not None:
        found = plugin_modules()
        if spec.plugin not in found:
            problems.append(
                f"{where((*loc, 'plugin'))}: {'.'.join(loc)}.plugin: {spec.plugin!r} not found "
                f"(plugins found: {', '.join(found) or 'none'})"
            )
            return None
        module = found[spec.plugin]
    if module is not None and not _module_exists(module):
        key = "plugin" if spec.plugin is not None else "module"
        value = spec.plugin if spec.plugin is not None else spec.module
        problems.append(
            f"{where((*loc, key))}: {'.'.join(loc)}.{key}: {value!r} not found "
            f"(no importable module {module})"
        )
        return None
    return InstanceSpec(
        name=name,
        module=module,
        endpoint=spec.endpoint,
        settings={k: _to_text(v) for k, v in spec.settings.items()},
        env=dict(spec.env),
    )


def _module_exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _to_text(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _line_of(root: yaml.Node | None, loc: Sequence[str | int]) -> int | None:
    """1-based line of the deepest YAML node along ``loc`` (None without a node tree)."""
    if root is None:
        return None
    node: yaml.Node = root
    last = len(loc) - 1
    for i, part in enumerate(loc):
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if str(key.value) == str(part):
                    # The key's own line for the field at fault; descend into values on the way.
                    node = key if i == last else value
                    break
            else:
                break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if 0 <= part < len(node.value):
                node = node.value[part]
            else:
                break
        else:
            break
    return int(node.start_mark.line) + 1

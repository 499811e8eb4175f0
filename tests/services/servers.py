"""Real Redis and Kafka servers for tests, started through the scripts in tools/.

Context managers (each starts its own server in a fresh temp dir and removes it afterwards)::

    with redis_server(aof=True) as r:      # r.host, r.port, r.url, r.stop(), r.start()
        ...
    with kafka_broker() as k:               # k.bootstrap, k.stop(), k.start()
        ...
    with kafka_cluster() as c:              # 3 brokers; c.kill(n), c.stop(n), c.start(n)
        ...

Each server is a ``StartedServer`` (host, port, addr, dir, stop/start/restart); ``stop()`` then
``start()`` brings the same server back on the same port with its data (fault tests). ``shared_redis()`` / ``shared_kafka()`` reuse the server named by
``PRISM_TEST_REDIS_ADDR`` (``host:port`` or ``redis://host:port[/db]``) /
``PRISM_TEST_KAFKA_BOOTSTRAP`` when set, and start their own otherwise. Fault tests must use
``redis_server()`` / ``kafka_broker()``, which always start their own.

Pytest fixtures of the same servers: add ``pytest_plugins = ["services.servers"]`` to a
conftest.py, then ask for ``redis_shared`` / ``kafka_shared`` (session scope) or
``redis_own`` / ``kafka_own`` (one server per test).

A server that cannot be installed or started RAISES ``ServerError``: in CI a backend's tests
must fail, never skip, when its server is missing.

Scripts are looked up in: ``$PRISM_REPO_ROOT/tools``, the ``tools/`` of the repo found by
walking up from this file to ``pants.toml``, then ``./tools`` (the Pants test sandbox, where
``//tools:scripts`` puts them). Env knobs: ``PRISM_CACHE`` (install cache, see the scripts),
``PRISM_KEEP_SERVER_DIRS=1`` keeps the temp dirs (logs) after the test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self
from urllib.parse import urlparse

__all__ = [
    "KafkaBroker",
    "KafkaCluster",
    "RedisServer",
    "ServerError",
    "StartedServer",
    "host_port",
    "kafka_broker",
    "kafka_cluster",
    "redis_server",
    "repo_root",
    "shared_kafka",
    "shared_redis",
    "tools_dir",
]

INSTALL_TIMEOUT_S = 1800.0
START_TIMEOUT_S = 300.0
STOP_TIMEOUT_S = 120.0


class ServerError(RuntimeError):
    """A test server could not be installed, started or stopped."""


def repo_root() -> Path | None:
    """$PRISM_REPO_ROOT, else the nearest parent of this file holding pants.toml, else None."""
    env = os.environ.get("PRISM_REPO_ROOT")
    if env:
        return Path(env).resolve()
    for parent in Path(__file__).resolve().parents:
        if (parent / "pants.toml").is_file():
            return parent
    return None


def tools_dir() -> Path:
    candidates: list[Path] = []
    env = os.environ.get("PRISM_REPO_ROOT")
    if env:
        candidates.append(Path(env) / "tools")
    for parent in Path(__file__).resolve().parents:
        if (parent / "pants.toml").is_file():
            candidates.append(parent / "tools")
            break
    candidates.append(Path.cwd() / "tools")
    for cand in candidates:
        if (cand / "redis.sh").is_file() and (cand / "kafka.sh").is_file():
            return cand.resolve()
    raise ServerError(
        "tools/redis.sh and tools/kafka.sh not found in any of "
        + ", ".join(str(c) for c in candidates)
        + " (set PRISM_REPO_ROOT, or depend on //tools:scripts in the test's BUILD)"
    )


def _script_env() -> dict[str, str]:
    env = dict(os.environ)
    # Lets tools/kafka.sh probe readiness with this interpreter and its confluent_kafka,
    # also when it runs from a pex (whose sys.path is not the interpreter's own).
    env.setdefault("PRISM_PYTHON", sys.executable)
    env.setdefault("PRISM_PYTHONPATH", os.pathsep.join(p for p in sys.path if p))
    return env


def _run(script: str, *args: str, timeout: float) -> str:
    """Run tools/<script> with args; return its stdout (stripped); raise ServerError on failure."""
    path = tools_dir() / script
    cmd = ["bash", str(path), *args]
    try:
        proc = subprocess.run(
            cmd,
            env=_script_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        err = (
            exc.stderr
            if isinstance(exc.stderr, str)
            else (exc.stderr or b"").decode(errors="replace")
        )
        raise ServerError(f"{' '.join(cmd)} timed out after {timeout:.0f}s:\n{_tail(err)}") from exc
    # Keep the scripts' progress visible in pytest's captured output.
    if proc.stderr:
        sys.stderr.write(proc.stderr)
    if proc.returncode != 0:
        raise ServerError(
            f"{' '.join(cmd)} failed with exit code {proc.returncode}:\n{_tail(proc.stderr)}"
        )
    return proc.stdout.strip()


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _last_line(out: str, what: str) -> str:
    lines = [ln for ln in out.splitlines() if ln.strip()]
    if not lines:
        raise ServerError(f"the script printed no {what}")
    return lines[-1].strip()


def _new_dir(prefix: str) -> Path:
    base = os.environ.get("PRISM_TEST_TMP") or None
    if base:
        Path(base).mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


def _keep_dirs() -> bool:
    return os.environ.get("PRISM_KEEP_SERVER_DIRS", "") not in ("", "0", "false")


@contextmanager
def _server_dir(script: str, prefix: str, stop: str = "stop") -> Iterator[Path]:
    """A fresh dir for a server of tools/<script>; afterwards the server is stopped (its
    ``stop`` command: a no-op if it never started) and the dir removed (unless
    PRISM_KEEP_SERVER_DIRS)."""
    d = _new_dir(prefix)
    try:
        yield d
    finally:
        try:
            _run(script, stop, str(d), timeout=STOP_TIMEOUT_S)
        finally:
            if not _keep_dirs():
                shutil.rmtree(d, ignore_errors=True)


# --------------------------------------------------------------------------- a started server


@dataclass
class StartedServer:
    """A server of tools/<script> on host:port, owning ``dir``; ``dir`` None: a shared external
    server, which tests may use but not stop or start."""

    script: ClassVar[str]
    kind: ClassVar[str]  # for messages: "Redis"
    host: str
    port: int
    dir: Path | None = None
    running: bool = field(default=True, repr=False)

    @property
    def addr(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def external(self) -> bool:
        return self.dir is None

    def _own(self, what: str) -> Path:
        if self.external or self.dir is None:
            raise ServerError(f"cannot {what} the shared external {self.kind} at {self.addr}")
        return self.dir

    def pid(self) -> int:
        """The server's pid (its script's pidfile), for tests that signal it."""
        name = self.script.removesuffix(".sh")
        return int((self._own("signal") / f"{name}.pid").read_text().strip())

    def stop(self) -> None:
        """Stop the server (the script's stop: SIGTERM, SIGKILL after its grace). Idempotent."""
        _run(self.script, "stop", str(self._own("stop")), timeout=STOP_TIMEOUT_S)
        self.running = False

    def start(self) -> None:
        """Start the stopped server again: same port, same data."""
        d = self._own("start")
        if self.running:
            return
        port = _start_in(self.script, d)
        if port != self.port:
            raise ServerError(f"{self.kind} came back on port {port}, expected {self.port}")
        self.running = True

    def restart(self) -> None:
        self.stop()
        self.start()

    @classmethod
    def install(cls) -> None:
        _run(cls.script, "install", timeout=INSTALL_TIMEOUT_S)

    @classmethod
    @contextmanager
    def own(cls, *args: str, **fields: Any) -> Iterator[Self]:
        """One of our own: ``tools/<script> start DIR ARGS`` in a fresh temp dir, stopped and
        removed afterwards; ``fields``: the subclass's own."""
        cls.install()
        with _server_dir(cls.script, f"prism-{cls.script.removesuffix('.sh')}-") as d:
            yield cls(host="127.0.0.1", port=_start_in(cls.script, d, *args), dir=d, **fields)

    @classmethod
    @contextmanager
    def shared(cls, env: str, default_port: int | None = None) -> Iterator[Self]:
        """The server named by $env if set (external: not ours to stop), else one of our own."""
        value = os.environ.get(env)
        if value:
            host, port = host_port(value, env, default_port)
            yield cls(host=host, port=port)
            return
        with cls.own() as server:
            yield server


def _start_in(script: str, d: Path, *args: str) -> int:
    """`tools/<script> start DIR ARGS`; the port of the address (or port) it prints."""
    printed = _last_line(_run(script, "start", str(d), *args, timeout=START_TIMEOUT_S), "address")
    return int(printed.rpartition(":")[2])


def host_port(value: str, env: str, default_port: int | None = None) -> tuple[str, int]:
    """The host and port of the one address in $env: ``host:port`` or
    ``scheme://host[:port][/...]``."""
    host: str | None
    port: int | None
    if "://" in value:
        u = urlparse(value)
        host, port = u.hostname, u.port or default_port
    else:
        host, _, digits = value.rpartition(":")
        port = int(digits) if digits.isdigit() else None
    if not host or port is None or "," in value:
        raise ServerError(f"{env}={value!r}: expected host:port or scheme://host:port")
    return host, port


# --------------------------------------------------------------------------- Redis


@dataclass
class RedisServer(StartedServer):
    """A Redis (its stop: SIGTERM, Redis saves its data first); ``aof``: appendonly, fsync always."""

    script: ClassVar[str] = "redis.sh"
    kind: ClassVar[str] = "Redis"
    aof: bool = False

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"


@contextmanager
def redis_server(aof: bool = False, port: int | None = None) -> Iterator[RedisServer]:
    """A Redis of our own on a free port, or on ``port`` (ServerError if it is taken);
    appendonly + appendfsync always with aof=True."""
    args = (["--aof"] if aof else []) + (["--port", str(port)] if port is not None else [])
    with RedisServer.own(*args, aof=aof) as server:
        yield server


@contextmanager
def redis_cluster(replicas: int = 1) -> Iterator[RedisCluster]:
    """A Redis Cluster of our own (tools/redis.sh cluster-start: 3 masters, ``replicas`` each)."""
    RedisServer.install()
    with _server_dir("redis.sh", "prism-rcluster-", stop="cluster-stop") as d:
        out = _run("redis.sh", "cluster-start", str(d), str(replicas), timeout=START_TIMEOUT_S)
        yield RedisCluster(addrs=_last_line(out, "addrs").split(","), dir=d)


@dataclass
class RedisCluster:
    addrs: list[str]
    dir: Path

    def kill(self, node: int) -> None:
        """SIGKILL node ``node`` (1..3 start as masters, the others as their replicas)."""
        _run("redis.sh", "node-kill", str(self.dir), str(node), timeout=STOP_TIMEOUT_S)

    def start(self, node: int) -> None:
        """Start a killed node again; it rejoins the cluster (as a replica if it was failed over)."""
        _run("redis.sh", "node-start", str(self.dir), str(node), timeout=START_TIMEOUT_S)


@contextmanager
def shared_redis() -> Iterator[RedisServer]:
    """The Redis named by PRISM_TEST_REDIS_ADDR if set, else one of our own (no AOF)."""
    with RedisServer.shared("PRISM_TEST_REDIS_ADDR", default_port=6379) as server:
        yield server


# --------------------------------------------------------------------------- Kafka


@dataclass
class KafkaBroker(StartedServer):
    """A KRaft broker (its stop: SIGTERM, a controlled shutdown; its data: topics, offsets)."""

    script: ClassVar[str] = "kafka.sh"
    kind: ClassVar[str] = "Kafka"

    @property
    def bootstrap(self) -> str:
        return self.addr


@contextmanager
def kafka_broker() -> Iterator[KafkaBroker]:
    """A single-node KRaft Kafka broker of our own on free ports."""
    with KafkaBroker.own() as broker:
        yield broker


@dataclass
class KafkaCluster:
    """Three KRaft brokers (replication factor 3, min.insync.replicas 2) in ``dir/b1..b3``."""

    bootstrap: str
    dir: Path

    def kill(self, n: int) -> None:
        """SIGKILL broker ``n`` (1..3): a crash, no controlled shutdown."""
        _run("kafka.sh", "broker-kill", str(self.dir), str(n), timeout=STOP_TIMEOUT_S)

    def stop(self, n: int) -> None:
        _run("kafka.sh", "broker-stop", str(self.dir), str(n), timeout=STOP_TIMEOUT_S)

    def start(self, n: int) -> None:
        """Start broker ``n`` again on its ports and data."""
        _run("kafka.sh", "broker-start", str(self.dir), str(n), timeout=START_TIMEOUT_S)


@contextmanager
def kafka_cluster() -> Iterator[KafkaCluster]:
    """A 3-broker KRaft cluster of our own on free ports (always its own: fault tests)."""
    KafkaBroker.install()
    with _server_dir("kafka.sh", "prism-kafka-cluster-", stop="cluster-stop") as d:
        out = _run("kafka.sh", "cluster-start", str(d), timeout=START_TIMEOUT_S)
        yield KafkaCluster(bootstrap=_last_line(out, "bootstrap"), dir=d)


@contextmanager
def shared_kafka() -> Iterator[KafkaBroker]:
    """The broker named by PRISM_TEST_KAFKA_BOOTSTRAP if set, else one of our own."""
    with KafkaBroker.shared("PRISM_TEST_KAFKA_BOOTSTRAP") as broker:
        yield broker


# --------------------------------------------------------------------------- pytest fixtures
# Opt in with `pytest_plugins = ["services.servers"]` in a conftest.py.

try:
    import pytest
except ImportError:  # pragma: no cover - the module also works without pytest
    pass
else:

    @pytest.fixture(scope="session")
    def redis_shared() -> Iterator[RedisServer]:
        with shared_redis() as server:
            yield server

    @pytest.fixture
    def redis_own() -> Iterator[RedisServer]:
        with redis_server(aof=True) as server:
            yield server

    @pytest.fixture(scope="session")
    def kafka_shared() -> Iterator[KafkaBroker]:
        with shared_kafka() as broker:
            yield broker

    @pytest.fixture
    def kafka_own() -> Iterator[KafkaBroker]:
        with kafka_broker() as broker:
            yield broker

"""TLS, mutual TLS, bearer tokens and per-namespace grants on a real gateway (`prism up`).

Certificates and tokens are generated here; every handshake is a real one over 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, cast

import grpc
import psutil
import pytest

from prism.interfaces import (
    keyvalue_basic_pb2,
    keyvalue_basic_pb2_grpc,
    keyvalue_scan_pb2,
    keyvalue_scan_pb2_grpc,
    pubsub_basic_pb2,
    pubsub_basic_pb2_grpc,
)
from prism.proxy import auth as auth_module
from prism.proxy.auth import (
    OPERATIONS,
    Authorizer,
    AuthWrapper,
    Grant,
    Operation,
    TokenVerifier,
)
from prism.proxy.config import ProxyConfigError, parse_config_text
from prism.proxy.contract import contract_methods
from prism.proxy.run import METRICS_PREFIX
from prism.sdk.testing import (
    KeyValueBasicConformance,
    KeyValueScanConformance,
    KeyValueTTLConformance,
)
from proxy.credentials import AUDIENCE, ISSUER, CertAuthority, TokenIssuer, write
from proxy.gateway import Gateway
from proxy.secured import Secured, kit_channel

TIMEOUT = 10.0


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    s = Secured(tmp_path_factory.mktemp("secured"))
    try:
        yield s
    finally:
        s.gateway.stop()


def _bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def _get(ch: grpc.Channel, namespace: str, metadata: Any) -> Any:
    stub = keyvalue_basic_pb2_grpc.KeyValueBasicInterfaceStub(ch)
    req = keyvalue_basic_pb2.GetRequest(namespace=namespace, key="k")
    return stub.Get(req, timeout=TIMEOUT, metadata=metadata)


def _scan(ch: grpc.Channel, namespace: str, metadata: Any) -> list[Any]:
    stub = keyvalue_scan_pb2_grpc.KeyValueScanInterfaceStub(ch)
    req = keyvalue_scan_pb2.ScanRequest(namespace=namespace, prefix="")
    return list(stub.Scan(req, timeout=TIMEOUT, metadata=metadata))


def _code(call: Any) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as info:
        call()
    code: grpc.StatusCode = info.value.code()
    return code


# -- TLS -------------------------------------------------------------------------------------


def test_client_trusting_another_ca_fails_the_handshake(secured: Secured) -> None:
    token = secured.issuer.token("alice")
    with secured.channel(secured.other_ca) as ch:
        assert _code(lambda: _get(ch, "default", _bearer(token))) is grpc.StatusCode.UNAVAILABLE


def test_plaintext_client_cannot_talk_to_a_tls_gateway(secured: Secured) -> None:
    token = secured.issuer.token("alice")
    with grpc.insecure_channel(secured.gateway.addr) as ch:
        assert _code(lambda: _get(ch, "default", _bearer(token))) is grpc.StatusCode.UNAVAILABLE


# -- tokens ----------------------------------------------------------------------------------


def _bad_tokens(secured: Secured) -> dict[str, Any]:
    now_issuer = secured.issuer
    forger = TokenIssuer()  # same kid, different key: the signature does not verify
    now = int(time.time())
    return {
        "missing": (),
        "not bearer": (("authorization", "Basic YWxpY2U6cHc="),),
        "malformed": _bearer("not-a-jwt"),
        "expired": _bearer(now_issuer.token("alice", exp=now - 60, iat=now - 120)),
        "not yet valid": _bearer(now_issuer.token("alice", nbf=now + 600)),
        "wrong audience": _bearer(now_issuer.token("alice", aud="someone-else")),
        "wrong issuer": _bearer(now_issuer.token("alice", iss="https://evil.test")),
        "wrong signature": _bearer(forger.token("alice")),
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing",
        "not bearer",
        "malformed",
        "expired",
        "not yet valid",
        "wrong audience",
        "wrong issuer",
        "wrong signature",
    ],
)
def test_bad_credentials_are_unauthenticated_unary_and_streaming(
    secured: Secured, case: str
) -> None:
    metadata = _bad_tokens(secured)[case]
    with secured.channel() as ch:
        assert _code(lambda: _get(ch, "default", metadata)) is grpc.StatusCode.UNAUTHENTICATED
        assert _code(lambda: _scan(ch, "default", metadata)) is grpc.StatusCode.UNAUTHENTICATED


def test_granted_caller_succeeds_unary_and_streaming(secured: Secured) -> None:
    md = _bearer(secured.issuer.token("alice"))
    with secured.channel() as ch:
        stub = keyvalue_basic_pb2_grpc.KeyValueBasicInterfaceStub(ch)
        stub.Set(
            keyvalue_basic_pb2.SetRequest(namespace="default", key="k", value=b"v"),
            timeout=TIMEOUT,
            metadata=md,
        )
        assert _get(ch, "default", md).value == b"v"
        assert [i.key for i in _scan(ch, "default", md)] == ["k"]
        # MemStore serves no pub/sub: UNIMPLEMENTED comes from routing, after the grant check.
        assert _code(lambda: _subscribe(ch, "default", md)) is grpc.StatusCode.UNIMPLEMENTED


def _subscribe(ch: grpc.Channel, namespace: str, metadata: Any) -> list[Any]:
    stub = pubsub_basic_pb2_grpc.PubSubBasicInterfaceStub(ch)
    req = pubsub_basic_pb2.SubscribeRequest(namespace=namespace, topic="t", subscriber_id="s")
    return list(stub.Subscribe(req, timeout=TIMEOUT, metadata=metadata))


def test_valid_caller_outside_its_grants_is_permission_denied(secured: Secured) -> None:
    md = _bearer(secured.issuer.token("bob"))
    with secured.channel() as ch:
        with pytest.raises(grpc.RpcError) as info:
            _get(ch, "default", md)
        assert info.value.code() is grpc.StatusCode.PERMISSION_DENIED
        assert "read" in info.value.details() and "'default'" in info.value.details()
        assert _code(lambda: _scan(ch, "default", md)) is grpc.StatusCode.PERMISSION_DENIED
        # bob may read orders, but not write it
        assert _code(lambda: _get(ch, "orders", md)) is grpc.StatusCode.NOT_FOUND  # admitted
        stub = keyvalue_basic_pb2_grpc.KeyValueBasicInterfaceStub(ch)
        with pytest.raises(grpc.RpcError) as info:
            stub.Set(
                keyvalue_basic_pb2.SetRequest(namespace="orders", key="k", value=b"v"),
                timeout=TIMEOUT,
                metadata=md,
            )
        assert info.value.code() is grpc.StatusCode.PERMISSION_DENIED
        assert "write" in info.value.details()
        with pytest.raises(grpc.RpcError) as info:
            _subscribe(ch, "orders", md)
        assert info.value.code() is grpc.StatusCode.PERMISSION_DENIED
        assert "subscribe" in info.value.details()


def test_denial_does_not_reveal_which_namespaces_exist(secured: Secured) -> None:
    md = _bearer(secured.issuer.token("bob"))
    with secured.channel() as ch:
        with pytest.raises(grpc.RpcError) as existing:
            _get(ch, "conformance", md)
        with pytest.raises(grpc.RpcError) as missing:
            _get(ch, "no-such-namespace", md)
    assert existing.value.code() is missing.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert "known" not in missing.value.details()
    assert secured.gateway.log_text().count("denied identity=") >= 2


def _raw(ch: grpc.Channel, path: str, request: bytes, metadata: Any, stream: bool = False) -> Any:
    """Call ``path`` with ``request`` as the exact wire bytes."""
    if stream:
        return list(ch.unary_stream(path)(request, timeout=TIMEOUT, metadata=metadata))
    return ch.unary_unary(path)(request, timeout=TIMEOUT, metadata=metadata)


TRUNCATED = b"\x0a\x05ab"  # field 1 claims 5 bytes, 2 follow
GET, SCAN = "/prism.KeyValueBasicInterface/Get", "/prism.KeyValueScanInterface/Scan"


def test_malformed_request_from_an_authenticated_caller_is_invalid_argument(
    secured: Secured,
) -> None:
    # bob holds no grant that could cover these bytes; what is wrong is his own request, so
    # saying so tells him nothing about the gateway's namespaces.
    md = _bearer(secured.issuer.token("bob"))
    with secured.channel() as ch:
        for stream, path in ((False, GET), (True, SCAN)):
            with pytest.raises(grpc.RpcError) as info:
                _raw(ch, path, TRUNCATED, md, stream)
            assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT, path
            assert info.value.details() == "malformed request: truncated field"


def test_malformed_request_without_credentials_is_unauthenticated(secured: Secured) -> None:
    with secured.channel() as ch:
        assert _code(lambda: _raw(ch, GET, TRUNCATED, ())) is grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    ("namespace", "message"),
    [("", "namespace must not be empty"), ("a\x01b", "control character '\\x01' at index 1")],
)
def test_invalid_namespace_name_is_invalid_argument_for_any_authenticated_caller(
    secured: Secured, namespace: str, message: str
) -> None:
    md = _bearer(secured.issuer.token("bob"))
    with secured.channel() as ch:
        with pytest.raises(grpc.RpcError) as info:
            _get(ch, namespace, md)
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert message in info.value.details()


def _scrape(url: str, needle: str) -> str:
    """The metrics text once ``needle`` shows: grpc.aio's abort sends the status before the
    handler (and so the counting wrapper) returns, so the last call may land just after."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        text: str = urllib.request.urlopen(url, timeout=TIMEOUT).read().decode()
        if needle in text or time.monotonic() > deadline:
            return text
        time.sleep(0.05)


def test_metrics_endpoint_shows_the_calls_just_made(secured: Secured) -> None:
    alice = _bearer(secured.issuer.token("alice"))
    with secured.channel() as ch:
        keyvalue_basic_pb2_grpc.KeyValueBasicInterfaceStub(ch).Set(
            keyvalue_basic_pb2.SetRequest(namespace="default", key="k", value=b"v"),
            timeout=TIMEOUT,
            metadata=alice,
        )
        for _ in range(3):
            _get(ch, "default", alice)
        _code(lambda: _get(ch, "default", ()))
        _code(lambda: _get(ch, "default", _bearer(secured.issuer.token("bob"))))
    text = _scrape(secured.metrics_url, 'reason="permission_denied"')
    calls = [ln for ln in text.splitlines() if ln.startswith("prism_gateway_calls_total{")]
    assert any('code="OK",method="Get",namespace="default"' in ln for ln in calls), calls
    assert any('code="UNAUTHENTICATED"' in ln for ln in calls), calls
    assert 'prism_gateway_denials_total{operation="read",reason="unauthenticated"}' in text
    assert 'prism_gateway_denials_total{operation="read",reason="permission_denied"}' in text
    assert any('code="PERMISSION_DENIED",method="Get",namespace="default"' in ln for ln in calls)
    assert "prism_gateway_call_seconds_bucket" in text
    assert 'prism_gateway_upstream_state{instance="default",state="serving"} 1.0' in text
    assert 'prism_gateway_breaker_state{instance="default"} 0.0' in text


def test_cli_uses_cacert_and_token(secured: Secured, tmp_path: Path) -> None:
    ca = write(tmp_path / "ca.pem", secured.ca.pem)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    env.pop("PRISM_TOKEN", None)
    base = [sys.executable, "-m", "prism.cli", "kv"]
    conn = ["--addr", secured.gateway.addr, "--cacert", str(ca)]
    token = secured.issuer.token("alice")

    def cli(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*base, *args, *conn], env={**env, **extra}, capture_output=True, text=True, timeout=60
        )

    assert cli("set", "cli-key", "hello", "--token", token).returncode == 0
    got = cli("get", "cli-key", PRISM_TOKEN=token)
    assert (got.returncode, got.stdout) == (0, "hello\n"), got.stderr
    denied = cli("get", "cli-key")
    assert denied.returncode == 1 and "UNAUTHENTICATED" in denied.stderr


def test_managed_plugins_are_reachable_only_through_the_gateway(secured: Secured) -> None:
    assert secured.gateway.proc is not None
    plugins = psutil.Process(secured.gateway.proc.pid).children()
    assert len(plugins) == 1, plugins  # default, orders, conformance share one MemStore
    for plugin in plugins:
        tcp = plugin.net_connections(kind="inet")
        listening = [c.laddr for c in tcp if c.status == psutil.CONN_LISTEN]
        assert not listening, f"plugin {plugin.pid} listens on TCP {listening}"
    # The plugins' bound unix sockets: a unix socket's laddr is its path ("" if unbound), a
    # str that types-psutil types as an inet address.
    addrs = [c.laddr for p in plugins for c in p.net_connections(kind="unix")]
    sockets = {cast(str, a) for a in addrs if a}
    assert len(sockets) == 1, sockets
    dirs = {Path(s).parent for s in sockets}
    assert len(dirs) == 1, sockets
    (socket_dir,) = dirs
    assert socket_dir.stat().st_mode & 0o777 == 0o700
    assert socket_dir.stat().st_uid == os.getuid()
    (path,) = sockets
    assert _connect_as(None, path) == 0  # the gateway's user reaches it: the socket is live
    if os.getuid() == 0:  # CI runs as root: show another user is refused, not just the mode
        assert _connect_as(65534, path) == errno.EACCES


def _connect_as(uid: int | None, path: str) -> int:
    """Connect to Unix socket ``path`` from a forked child running as ``uid``; 0 or the errno.

    Forked, not exec'd: another user may not be able to run this interpreter at all.
    """
    pid = os.fork()
    if pid == 0:  # pragma: no cover (child)
        code = 0
        try:
            if uid is not None:
                os.setgid(uid)
                os.setuid(uid)
            socket.socket(socket.AF_UNIX).connect(path)
        except OSError as exc:
            code = exc.errno or 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_metrics_flag_on_a_plain_gateway_labels_unknown_namespaces_other(tmp_path: Path) -> None:
    gw = Gateway(None, tmp_path).start("--metrics-port", "0")
    try:
        assert gw.proc is not None and gw.proc.stdout is not None
        url = gw.proc.stdout.readline()[len(METRICS_PREFIX) :].strip()
        with grpc.insecure_channel(gw.addr) as ch:  # no security config: plaintext as before
            assert _code(lambda: _get(ch, "default", ())) is grpc.StatusCode.NOT_FOUND
            assert _code(lambda: _get(ch, "random-name", ())) is grpc.StatusCode.NOT_FOUND
        text = _scrape(url, 'namespace="other"')
    finally:
        gw.stop()
    assert (
        'prism_gateway_calls_total{code="NOT_FOUND",method="Get",namespace="default"} 1.0' in text
    )
    assert 'prism_gateway_calls_total{code="NOT_FOUND",method="Get",namespace="other"} 1.0' in text
    assert "random-name" not in text


# -- conformance through the authenticated gateway --------------------------------------------


@pytest.fixture
async def prism_channel(secured: Secured) -> AsyncIterator[grpc.aio.Channel]:
    async with kit_channel(secured) as channel:
        yield channel


class TestConformanceThroughAuthGateway(KeyValueBasicConformance):
    pass


class TestScanConformanceThroughAuthGateway(KeyValueScanConformance):
    pass


class TestTTLConformanceThroughAuthGateway(KeyValueTTLConformance):
    pass


# -- mutual TLS ------------------------------------------------------------------------------


class Mutual:
    def __init__(self, workdir: Path) -> None:
        self.ca = CertAuthority.create("prism-test-ca")
        self.other_ca = CertAuthority.create("other-ca")
        cert, key = self.ca.issue("gateway", server=True)
        write(workdir / "server.pem", cert)
        write(workdir / "server.key", key)
        write(workdir / "clients.pem", self.ca.pem)
        config = """\
namespaces:
  default: {plugin: memstore}
tls: {cert: server.pem, key: server.key, client_ca: clients.pem}
auth:
  grants:
    - {identities: ["cert:CN=svc-a,O=Prism Test"], namespaces: [default], allow: [read, write]}
"""
        self.gateway = Gateway(config, workdir).start()

    def channel(self, client: tuple[bytes, bytes] | None) -> grpc.Channel:
        creds = grpc.ssl_channel_credentials(
            root_certificates=self.ca.pem,
            private_key=client[1] if client else None,
            certificate_chain=client[0] if client else None,
        )
        return grpc.secure_channel(self.gateway.addr, creds)


@pytest.fixture(scope="module")
def mutual(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mutual]:
    m = Mutual(tmp_path_factory.mktemp("mutual"))
    try:
        yield m
    finally:
        m.gateway.stop()


def test_mtls_without_a_client_certificate_fails(mutual: Mutual) -> None:
    with mutual.channel(None) as ch:
        assert _code(lambda: _get(ch, "default", ())) is grpc.StatusCode.UNAVAILABLE


def test_mtls_with_a_certificate_from_another_ca_fails(mutual: Mutual) -> None:
    with mutual.channel(mutual.other_ca.issue("svc-a", server=False)) as ch:
        assert _code(lambda: _get(ch, "default", ())) is grpc.StatusCode.UNAVAILABLE


def test_mtls_certificate_subject_is_the_identity(mutual: Mutual) -> None:
    with mutual.channel(mutual.ca.issue("svc-a", server=False)) as ch:
        assert _code(lambda: _get(ch, "default", ())) is grpc.StatusCode.NOT_FOUND  # admitted
    with mutual.channel(mutual.ca.issue("svc-b", server=False)) as ch:
        assert _code(lambda: _get(ch, "default", ())) is grpc.StatusCode.PERMISSION_DENIED


# -- startup errors and the method table -----------------------------------------------------


def test_key_that_does_not_match_the_certificate_fails_startup_naming_it(
    tmp_path: Path,
) -> None:
    ca = CertAuthority.create("ca")
    cert, _ = ca.issue("gateway", server=True)
    _, other_key = ca.issue("other", server=True)
    write(tmp_path / "server.pem", cert)
    write(tmp_path / "server.key", other_key)
    config = "namespaces: {default: {plugin: memstore}}\ntls: {cert: server.pem, key: server.key}\n"
    gw = Gateway(config, tmp_path)
    with pytest.raises(RuntimeError, match="server.key does not match the certificate"):
        gw.start()
    gw.stop()


def test_missing_certificate_file_fails_startup_naming_it(tmp_path: Path) -> None:
    config = "namespaces: {default: {plugin: memstore}}\ntls: {cert: nope.pem, key: nope.key}\n"
    gw = Gateway(config, tmp_path)
    with pytest.raises(RuntimeError, match=r"TLS certificate .*nope\.pem: cannot read"):
        gw.start()
    gw.stop()


def test_auth_without_tokens_or_client_certificates_is_a_config_error() -> None:
    with pytest.raises(ProxyConfigError, match="auth needs a way in"):
        parse_config_text("namespaces: {default: {plugin: memstore}}\nauth: {grants: []}\n")


def test_every_contract_method_is_classified() -> None:
    missing = {m.path for m in contract_methods()} - set(OPERATIONS)
    assert not missing, f"classify these as read/write/subscribe in prism.proxy.auth: {missing}"
    assert OPERATIONS["/prism.PubSubBasicInterface/Ack"] is Operation.SUBSCRIBE


async def test_an_unclassified_method_is_denied_even_to_a_granted_caller() -> None:
    everything = Grant(frozenset({"*"}), frozenset({"*"}), frozenset(Operation))
    wrapper = AuthWrapper(Authorizer([everything]))
    reached = asyncio.Event()

    async def inner(request: bytes, context: Any) -> bytes:
        reached.set()
        return b""

    class Aborted(Exception):
        pass

    class Context:
        code: grpc.StatusCode | None = None

        def invocation_metadata(self) -> Any:
            return ()

        def auth_context(self) -> Any:
            return {"x509_subject": [b"CN=anyone"]}

        async def abort(self, code: grpc.StatusCode, details: str) -> None:
            self.code = code
            raise Aborted(details)

    ctx = Context()
    wrapped = wrapper.wrap(inner, "/prism.NewInterface/Do")
    with pytest.raises(Aborted, match="unclassified"):
        await wrapped(b"\x0a\x01x", ctx)
    assert ctx.code is grpc.StatusCode.PERMISSION_DENIED and not reached.is_set()


def test_grant_check_matches_every_grant_rule() -> None:
    grants = [
        Grant(frozenset({"token:a"}), frozenset({"x"}), frozenset({Operation.READ})),
        Grant(frozenset({"claim:g=ops"}), frozenset({"*"}), frozenset({Operation.WRITE})),
        Grant(frozenset({"*"}), frozenset({"pub"}), frozenset({Operation.READ})),
        Grant(frozenset({"token:b"}), frozenset({"*"}), frozenset({Operation.READ})),
    ]
    authz = Authorizer(grants)
    for who in ({"token:a"}, {"token:b"}, {"token:c", "claim:g=ops"}, {"token:z"}):
        for op in Operation:
            for ns in ("x", "y", "pub", "*", ""):
                expected = any(
                    op in g.operations
                    and ("*" in g.namespaces or ns in g.namespaces)
                    and ("*" in g.identities or bool(g.identities & who))
                    for g in grants
                )
                assert authz.check(frozenset(who), op, ns) is expected, (who, op, ns)


def _verifier(tmp_path: Path, issuer: TokenIssuer) -> TokenVerifier:
    jwks = write(tmp_path / "jwks.json", issuer.jwks())
    return TokenVerifier(audience=AUDIENCE, issuer=ISSUER, algorithms=["RS256"], jwks=jwks)


def test_a_verified_token_is_cached_until_it_expires_and_the_cache_is_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    issuer = TokenIssuer()
    verifier = _verifier(tmp_path, issuer)
    verified: list[str] = []
    real = verifier._verify

    def counting(token: str) -> dict[str, Any]:
        verified.append(token)
        return real(token)

    monkeypatch.setattr(verifier, "_verify", counting)
    token = issuer.token("alice", exp=int(time.time()) + 600)
    assert verifier.principals(token) is verifier.principals(token)
    assert len(verified) == 1
    clock = time.time() + 601  # past exp (by the cache's clock): not served from the cache
    monkeypatch.setattr(time, "time", lambda: clock)
    verifier.principals(token)
    assert len(verified) == 2
    monkeypatch.undo()
    monkeypatch.setattr(auth_module, "_TOKEN_CACHE_MAX", 3)
    for i in range(10):
        verifier.principals(issuer.token(f"user{i}"))
        assert len(verifier._cache) <= 3


async def test_a_token_caller_is_admitted_without_building_the_tls_auth_context(
    tmp_path: Path,
) -> None:
    # grpc builds auth_context() afresh on every call; a token caller never needs it.
    issuer = TokenIssuer()
    grant = Grant(frozenset({"token:alice"}), frozenset({"x"}), frozenset(Operation))
    wrapper = AuthWrapper(Authorizer([grant], _verifier(tmp_path, issuer)))
    token = issuer.token("alice")

    class Context:
        def invocation_metadata(self) -> Any:
            return _bearer(token)

        def auth_context(self) -> Any:
            raise AssertionError("auth_context built for a token caller")

    async def inner(request: bytes, context: Any) -> bytes:
        return b"ok"

    wrapped = wrapper.wrap(inner, "/prism.KeyValueBasicInterface/Get")
    assert await wrapped(b"\x0a\x01x", Context()) == b"ok"

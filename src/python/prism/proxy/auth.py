"""Who may call what: bearer tokens or client certificates, per-namespace grants.

A wrapper around each contract method authenticates the caller (a verified JWT from
``authorization: Bearer``, else the mTLS client certificate's subject), reads the namespace
from the raw request and checks the grants, before the forwarding handler sees the call.
The order decides what a caller can learn:

1. no valid credentials: UNAUTHENTICATED, whatever the request;
2. request bytes malformed: INVALID_ARGUMENT naming the fault (it is about the caller's own
   bytes, so it tells nothing about the gateway);
3. outside the caller's grants: PERMISSION_DENIED, also for a namespace that does not exist,
   so the caller learns nothing about which do; an invalid namespace name (empty, too long,
   control characters) is INVALID_ARGUMENT instead, as no grant can ever name it.

Every routed method is one of three operations (:data:`OPERATIONS`); a method missing from
the table is denied (fail closed), so a new contract method is unusable through an
authenticated gateway until someone decides what it is.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import jwt
from cryptography.hazmat.primitives import serialization

from prism.proxy._wrapping import Behavior
from prism.proxy.config import AuthConfig
from prism.proxy.forward import Reject, check_namespace, request_namespace
from prism.proxy.tls import CredentialFileError

__all__ = [
    "OPERATIONS",
    "AuthError",
    "AuthWrapper",
    "Authorizer",
    "Grant",
    "Operation",
    "TokenVerifier",
    "build_authorizer",
]

_audit = logging.getLogger("prism.proxy.audit")
_TOKEN_CACHE_MAX = 10_000


class Operation(enum.Enum):
    READ = "read"
    WRITE = "write"
    SUBSCRIBE = "subscribe"


_R, _W, _S = Operation.READ, Operation.WRITE, Operation.SUBSCRIBE
# Method path -> operation; tests check that every contract method is here.
OPERATIONS: Mapping[str, Operation] = {
    "/prism.KeyValueBasicInterface/Set": _W,
    "/prism.KeyValueBasicInterface/Get": _R,
    "/prism.KeyValueBasicInterface/Delete": _W,
    "/prism.KeyValueBasicInterface/Exists": _R,
    "/prism.KeyValueScanInterface/Scan": _R,
    "/prism.KeyValueScanInterface/Count": _R,
    "/prism.KeyValueTTLInterface/Expire": _W,
    "/prism.KeyValueTTLInterface/GetTTL": _R,
    "/prism.KeyValueTTLInterface/Persist": _W,
    "/prism.PubSubBasicInterface/Publish": _W,
    "/prism.PubSubBasicInterface/Subscribe": _S,
    "/prism.PubSubBasicInterface/Ack": _S,
    "/prism.PubSubBasicInterface/Unsubscribe": _S,
    "/prism.MulticastRegistryInterface/Register": _W,
    "/prism.MulticastRegistryInterface/Unregister": _W,
    "/prism.MulticastRegistryInterface/Enumerate": _R,
    "/prism.MulticastRegistryInterface/Multicast": _W,
    "/prism.MulticastRegistryInterface/Receive": _S,
}


class AuthError(Exception):
    """Credentials missing or invalid (UNAUTHENTICATED); the message says which."""


class TokenVerifier:
    """Verifies JWTs (signature, exp, nbf, aud, iss) with PyJWT; caches good ones until exp.

    Keys come from a JWKS file (chosen by ``kid``) or PEM public keys (each tried in turn).
    """

    def __init__(
        self,
        *,
        audience: str,
        issuer: str,
        algorithms: Sequence[str],
        jwks: Path | None = None,
        public_keys: Sequence[Path] = (),
        leeway: float = 0.0,
    ) -> None:
        self.audience, self.issuer, self.leeway = audience, issuer, leeway
        self.algorithms = list(algorithms)
        self._by_kid: dict[str, Any] = {}
        self._keys: list[Any] = []
        if jwks is not None:
            try:
                keyset = jwt.PyJWKSet.from_json(jwks.read_text(encoding="utf-8"))
            except (OSError, ValueError, jwt.PyJWTError) as exc:
                raise CredentialFileError(f"JWKS file {jwks}: {exc}") from exc
            for k in keyset.keys:
                if k.key_id is not None:
                    self._by_kid[k.key_id] = k.key
                self._keys.append(k.key)
        for path in public_keys:
            try:
                self._keys.append(serialization.load_pem_public_key(path.read_bytes()))
            except OSError as exc:
                raise CredentialFileError(
                    f"public key {path}: cannot read: {exc.strerror}"
                ) from exc
            except ValueError as exc:
                raise CredentialFileError(f"public key {path}: not a PEM public key") from exc
        if not self._keys:
            raise CredentialFileError(
                "token verification needs a JWKS file or at least one public key"
            )
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}

    def principals(self, token: str) -> frozenset[str]:
        """The caller's principals (``token:<sub>``, ``claim:<name>=<value>``); AuthError if bad."""
        now = time.time()
        hit = self._cache.get(token)
        if hit is not None and now < hit[0]:
            return hit[1]
        claims = self._verify(token)
        found = _principals(claims)
        if len(self._cache) >= _TOKEN_CACHE_MAX:
            self._cache.clear()
        self._cache[token] = (float(claims["exp"]), found)
        return found

    def _verify(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthError(f"malformed token: {exc}") from exc
        kid = header.get("kid")
        keys = [self._by_kid[kid]] if kid in self._by_kid else self._keys
        last: Exception | None = None
        for key in keys:
            try:
                claims: dict[str, Any] = jwt.decode(
                    token,
                    key,
                    algorithms=self.algorithms,
                    audience=self.audience,
                    issuer=self.issuer,
                    leeway=self.leeway,
                    options={"require": ["exp", "sub", "aud", "iss"]},
                )
                return claims
            except jwt.InvalidSignatureError as exc:
                last = exc  # another key may match
            except jwt.PyJWTError as exc:
                raise AuthError(f"invalid token: {exc}") from exc
        raise AuthError(f"invalid token: {last}")


def _principals(claims: Mapping[str, Any]) -> frozenset[str]:
    out = {f"token:{claims['sub']}"}
    for name, value in claims.items():
        for v in value if isinstance(value, list) else [value]:
            if isinstance(v, str | int) and not isinstance(v, bool):
                out.add(f"claim:{name}={v}")
    return frozenset(out)


@dataclass(frozen=True)
class Grant:
    """``identities`` may do ``operations`` in ``namespaces`` (``*`` matches every one)."""

    identities: frozenset[str]
    namespaces: frozenset[str]
    operations: frozenset[Operation]


def _index(grants: Iterable[Grant]) -> dict[tuple[Operation, str], frozenset[str]]:
    """(operation, namespace or ``*``) -> every identity allowed it (``*``: anyone).

    A check is then one lookup whatever the number of grants.
    """
    acc: dict[tuple[Operation, str], set[str]] = {}
    for g in grants:
        for op in g.operations:
            for ns in g.namespaces:
                acc.setdefault((op, ns), set()).update(g.identities)
    for (op, ns), identities in acc.items():
        if ns != "*":  # a named namespace also admits whoever holds the op everywhere
            identities.update(acc.get((op, "*"), ()))
    return {key: frozenset(identities) for key, identities in acc.items()}


@dataclass
class Authorizer:
    """Authentication plus grants; deny by default."""

    grants: Sequence[Grant]
    tokens: TokenVerifier | None = None
    on_deny: Callable[[str, str], None] = field(default=lambda reason, op: None)

    def __post_init__(self) -> None:
        self._allowed = _index(self.grants)

    def identify(
        self,
        metadata: Iterable[tuple[str, Any]],
        auth_context: Callable[[], Mapping[str, Sequence[bytes]]],
    ) -> frozenset[str]:
        """The caller's principals; AuthError when it has no valid credentials.

        ``auth_context`` is called only without a token (grpc builds it afresh per call).
        """
        token = None
        for key, value in metadata:
            if key == "authorization":
                scheme, _, rest = str(value).partition(" ")
                if scheme.lower() != "bearer" or not rest.strip():
                    raise AuthError("authorization metadata must be 'Bearer <token>'")
                token = rest.strip()
        if token is not None:
            if self.tokens is None:
                raise AuthError("this gateway does not accept bearer tokens")
            return self.tokens.principals(token)
        subjects = auth_context().get("x509_subject")
        if subjects:
            return frozenset(f"cert:{s.decode()}" for s in subjects)
        raise AuthError("no credentials: send 'authorization: Bearer <token>' metadata")

    def check(self, who: frozenset[str], op: Operation, namespace: str) -> bool:
        allowed = self._allowed.get((op, namespace))
        if allowed is None:
            allowed = self._allowed.get((op, "*"))
            if allowed is None:
                return False
        return "*" in allowed or not allowed.isdisjoint(who)


def build_authorizer(config: AuthConfig) -> Authorizer:
    """The Authorizer for a gateway config's ``auth`` section (reads the key files)."""
    tokens = None
    if config.tokens is not None:
        t = config.tokens
        tokens = TokenVerifier(
            audience=t.audience,
            issuer=t.issuer,
            algorithms=t.algorithms,
            jwks=t.jwks,
            public_keys=t.public_keys,
            leeway=t.leeway,
        )
    grants = [
        Grant(
            frozenset(g.identities),
            frozenset(g.namespaces),
            frozenset(Operation(a) for a in g.allow),
        )
        for g in config.grants
    ]
    return Authorizer(grants, tokens)


class AuthWrapper:
    """Checks identity and grants before each contract call (a MethodWrapper)."""

    def __init__(self, authorizer: Authorizer) -> None:
        self._authorizer = authorizer

    def wrap(self, inner: Behavior, path: str) -> Behavior:
        op = OPERATIONS.get(path)
        authz = self._authorizer

        async def checked(request: bytes, context: grpc.aio.ServicerContext) -> Any:
            try:
                who = authz.identify(context.invocation_metadata() or (), context.auth_context)
            except AuthError as exc:
                _audit.warning("unauthenticated method=%s reason=%s", path, exc)
                authz.on_deny("unauthenticated", op.value if op else "unknown")
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
            try:
                namespace = request_namespace(request)
                if op is None or not authz.check(who, op, namespace):
                    check_namespace(namespace)  # only a refusal pays for the name check
                    what = op.value if op is not None else f"{path} (unclassified method)"
                    _audit.warning(
                        "denied identity=%s method=%s namespace=%r",
                        ",".join(sorted(who)),
                        path,
                        namespace,
                    )
                    authz.on_deny("permission_denied", op.value if op else "unknown")
                    raise Reject(
                        grpc.StatusCode.PERMISSION_DENIED,
                        f"not allowed to {what} in namespace {namespace!r}",
                    )
            except Reject as exc:
                await context.abort(exc.code, exc.details)
            return await inner(request, context)

        return checked

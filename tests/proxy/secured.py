"""A TLS + token gateway for tests (tests/proxy and the plugins' secured-gateway tests)."""

from __future__ import annotations

from pathlib import Path

import grpc

from prism.proxy.run import METRICS_PREFIX
from proxy.credentials import AUDIENCE, ISSUER, CertAuthority, TokenIssuer, write
from proxy.gateway import Gateway

__all__ = ["Secured", "kit_channel"]


class Secured:
    """A TLS + token gateway and the credentials to talk to it."""

    def __init__(self, workdir: Path, more_namespaces: str = "") -> None:
        self.ca = CertAuthority.create("prism-test-ca")
        self.other_ca = CertAuthority.create("other-ca")
        cert, key = self.ca.issue("gateway", server=True)
        write(workdir / "server.pem", cert)
        write(workdir / "server.key", key)
        self.issuer = TokenIssuer()
        write(workdir / "jwks.json", self.issuer.jwks())
        config = f"""\
namespaces:
  default: {{plugin: memstore}}
  orders: {{plugin: memstore}}
  conformance: {{plugin: memstore}}
{more_namespaces}tls: {{cert: server.pem, key: server.key}}
auth:
  tokens: {{audience: {AUDIENCE}, issuer: "{ISSUER}", jwks: jwks.json}}
  grants:
    - {{identities: ["token:alice"], namespaces: [default], allow: [read, write, subscribe]}}
    - {{identities: ["token:bob"], namespaces: [orders], allow: [read]}}
    - {{identities: ["claim:role=conformance"], namespaces: ["*"], allow: [read, write, subscribe]}}
metrics: {{port: 0}}
"""
        self.gateway = Gateway(config, workdir).start()
        assert self.gateway.proc is not None and self.gateway.proc.stdout is not None
        line = self.gateway.proc.stdout.readline()
        assert line.startswith(METRICS_PREFIX), line
        self.metrics_url = line[len(METRICS_PREFIX) :].strip()

    def channel(self, ca: CertAuthority | None = None) -> grpc.Channel:
        creds = grpc.ssl_channel_credentials(root_certificates=(ca or self.ca).pem)
        return grpc.secure_channel(self.gateway.addr, creds)


def kit_channel(secured: Secured) -> grpc.aio.Channel:
    """A channel with TLS and the conformance kit's token (its grant covers every namespace)."""
    token = secured.issuer.token("conformance-kit", role="conformance")
    creds = grpc.composite_channel_credentials(
        grpc.ssl_channel_credentials(root_certificates=secured.ca.pem),
        grpc.access_token_call_credentials(token),
    )
    return grpc.aio.secure_channel(secured.gateway.addr, creds)

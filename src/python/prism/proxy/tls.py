"""Gateway TLS: load and check certificate files once, at startup.

gRPC reports a bad key or certificate only at the first handshake, with a message that names
no file; reading them with ``cryptography`` first turns every problem (missing, unreadable,
not PEM, key does not match the certificate) into a startup error naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization

__all__ = ["CredentialFileError", "TlsFiles", "server_credentials"]


class CredentialFileError(Exception):
    """A TLS or token-key file is missing, unreadable, malformed or does not match its partner."""


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path
    client_ca: Path | None = None  # set: mutual TLS, a client certificate is required


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CredentialFileError(f"{what} {path}: cannot read: {exc.strerror or exc}") from exc


def _certificates(path: Path, what: str) -> tuple[bytes, list[x509.Certificate]]:
    data = _read(path, what)
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise CredentialFileError(f"{what} {path}: not a PEM certificate: {exc}") from exc
    return data, certs


def server_credentials(files: TlsFiles) -> grpc.ServerCredentials:
    """Credentials for ``add_secure_port``; raises CredentialFileError naming the file at fault."""
    cert_pem, certs = _certificates(files.cert, "TLS certificate")
    key_pem = _read(files.key, "TLS key")
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise CredentialFileError(
            f"TLS key {files.key}: not an unencrypted PEM private key"
        ) from exc
    raw = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*raw) != certs[0].public_key().public_bytes(*raw):
        raise CredentialFileError(
            f"TLS key {files.key} does not match the certificate {files.cert}"
        )
    ca_pem = None
    if files.client_ca is not None:
        ca_pem, _ = _certificates(files.client_ca, "TLS client CA")
    return grpc.ssl_server_credentials(
        [(key_pem, cert_pem)],
        root_certificates=ca_pem,
        require_client_auth=ca_pem is not None,
    )

"""Key-value servicers over a backend-neutral async store protocol.

Servicers take the store as a callable, called per request: they are made before Initialize,
the store only when the plugin is built (``lambda: self.store``, prism.sdk.plugin.Built).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, cast, runtime_checkable

from prism.interfaces import (
    keyvalue_basic_pb2,
    keyvalue_basic_pb2_grpc,
    keyvalue_scan_pb2,
    keyvalue_scan_pb2_grpc,
    keyvalue_ttl_pb2,
    keyvalue_ttl_pb2_grpc,
)
from prism.sdk.errors import InvalidArgumentError, NotFoundError
from prism.sdk.limits import (
    quoted,
    validate_key,
    validate_name,
    validate_tags,
    validate_ttl,
    validate_value,
)
from prism.sdk.server import ServiceBinding


@dataclass(frozen=True)
class Entry:
    """A stored value and its tags, as a store returns it."""

    value: bytes
    tags: Mapping[str, str] = field(default_factory=dict)


class KeyValueStore(Protocol):
    """What a backend implements to serve ``prism.KeyValueBasicInterface``.

    Inputs arrive validated. ``ttl_seconds`` None means "no expiry" (and clears an old TTL).
    """

    async def set(
        self,
        namespace: str,
        key: str,
        value: bytes,
        ttl_seconds: float | None,
        tags: Mapping[str, str],
    ) -> bool:
        """Store the entry; True when the key did not exist before."""
        ...

    async def get(self, namespace: str, key: str) -> Entry | None:
        """The live entry, or None when missing or expired."""
        ...

    async def delete(self, namespace: str, key: str) -> bool:
        """True when a live key was removed."""
        ...

    async def exists(self, namespace: str, key: str) -> bool: ...


@runtime_checkable
class KeyValueTTLStore(Protocol):
    """What a backend implements to serve ``prism.KeyValueTTLInterface``."""

    async def expire(self, namespace: str, key: str, ttl_seconds: float) -> bool:
        """Set a TTL; False when the key does not exist."""
        ...

    async def get_ttl(self, namespace: str, key: str) -> tuple[bool, float | None]:
        """(exists, seconds left or None when the key never expires)."""
        ...

    async def persist(self, namespace: str, key: str) -> bool | None:
        """Remove the TTL: True if one was removed, False if none, None if the key is missing."""
        ...


@runtime_checkable
class KeyValueScanStore(Protocol):
    """What a backend implements to serve ``prism.KeyValueScanInterface``."""

    def scan(
        self, namespace: str, prefix: str, after: str | None, keys_only: bool, limit: int = 0
    ) -> AsyncIterator[tuple[str, bytes]]:
        """Live (key, value) pairs with ``prefix``, strictly after ``after``, ascending.

        ``limit`` (0 = none) is how many pairs the caller will take: a store reads no more.
        """
        ...

    async def count(self, namespace: str, prefix: str) -> int: ...


St = TypeVar("St", bound=KeyValueStore)


def encode_cursor(key: str) -> str:
    """An opaque cursor that resumes a scan right after ``key``."""
    return base64.urlsafe_b64encode(key.encode("utf-8")).decode("ascii")


def decode_cursor(cursor: str) -> str | None:
    """The key a cursor resumes after; None for "from the start"."""
    if not cursor:
        return None
    try:
        return base64.urlsafe_b64decode(cursor.encode("ascii")).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise InvalidArgumentError(
            f"cursor {quoted(cursor)} is not a cursor this server returned"
        ) from exc


def _validate_target(namespace: str, key: str) -> None:
    validate_name("namespace", namespace)
    validate_key(key)


def _not_found(namespace: str, key: str) -> NotFoundError:
    return NotFoundError(f"key {quoted(key)} not found in namespace {quoted(namespace)}")


class KeyValueBasicServicer(keyvalue_basic_pb2_grpc.KeyValueBasicInterfaceServicer):
    """``prism.KeyValueBasicInterface`` over a :class:`KeyValueStore`."""

    def __init__(self, store: Callable[[], KeyValueStore]) -> None:
        self._store = store

    async def Set(  # noqa: N802 (gRPC method name)
        self, request: keyvalue_basic_pb2.SetRequest, context: Any
    ) -> keyvalue_basic_pb2.SetResponse:
        _validate_target(request.namespace, request.key)
        validate_value(request.value)
        tags = dict(request.tags)
        validate_tags(tags)
        ttl: float | None = None
        if request.HasField("ttl_seconds"):
            validate_ttl(request.ttl_seconds)
            ttl = request.ttl_seconds
        created = await self._store().set(request.namespace, request.key, request.value, ttl, tags)
        return keyvalue_basic_pb2.SetResponse(created=created)

    async def Get(  # noqa: N802
        self, request: keyvalue_basic_pb2.GetRequest, context: Any
    ) -> keyvalue_basic_pb2.GetResponse:
        _validate_target(request.namespace, request.key)
        entry = await self._store().get(request.namespace, request.key)
        if entry is None:
            raise _not_found(request.namespace, request.key)
        return keyvalue_basic_pb2.GetResponse(value=entry.value, tags=dict(entry.tags))

    async def Delete(  # noqa: N802
        self, request: keyvalue_basic_pb2.DeleteRequest, context: Any
    ) -> keyvalue_basic_pb2.DeleteResponse:
        _validate_target(request.namespace, request.key)
        deleted = await self._store().delete(request.namespace, request.key)
        return keyvalue_basic_pb2.DeleteResponse(deleted=deleted)

    async def Exists(  # noqa: N802
        self, request: keyvalue_basic_pb2.ExistsRequest, context: Any
    ) -> keyvalue_basic_pb2.ExistsResponse:
        _validate_target(request.namespace, request.key)
        exists = await self._store().exists(request.namespace, request.key)
        return keyvalue_basic_pb2.ExistsResponse(exists=exists)


class KeyValueTTLServicer(keyvalue_ttl_pb2_grpc.KeyValueTTLInterfaceServicer):
    """``prism.KeyValueTTLInterface`` over a :class:`KeyValueTTLStore`."""

    def __init__(self, store: Callable[[], KeyValueTTLStore]) -> None:
        self._store = store

    async def Expire(  # noqa: N802
        self, request: keyvalue_ttl_pb2.ExpireRequest, context: Any
    ) -> keyvalue_ttl_pb2.ExpireResponse:
        _validate_target(request.namespace, request.key)
        validate_ttl(request.ttl_seconds)
        if not await self._store().expire(request.namespace, request.key, request.ttl_seconds):
            raise _not_found(request.namespace, request.key)
        return keyvalue_ttl_pb2.ExpireResponse()

    async def GetTTL(  # noqa: N802
        self, request: keyvalue_ttl_pb2.GetTTLRequest, context: Any
    ) -> keyvalue_ttl_pb2.GetTTLResponse:
        _validate_target(request.namespace, request.key)
        exists, remaining = await self._store().get_ttl(request.namespace, request.key)
        if not exists:
            raise _not_found(request.namespace, request.key)
        if remaining is None:
            return keyvalue_ttl_pb2.GetTTLResponse(has_ttl=False)
        return keyvalue_ttl_pb2.GetTTLResponse(has_ttl=True, ttl_seconds=max(remaining, 0.0))

    async def Persist(  # noqa: N802
        self, request: keyvalue_ttl_pb2.PersistRequest, context: Any
    ) -> keyvalue_ttl_pb2.PersistResponse:
        _validate_target(request.namespace, request.key)
        persisted = await self._store().persist(request.namespace, request.key)
        if persisted is None:
            raise _not_found(request.namespace, request.key)
        return keyvalue_ttl_pb2.PersistResponse(persisted=persisted)


class KeyValueScanServicer(keyvalue_scan_pb2_grpc.KeyValueScanInterfaceServicer):
    """``prism.KeyValueScanInterface`` over a :class:`KeyValueScanStore`.

    The cursor of each item is its key, encoded: resuming "after key K" needs no server-side
    state, survives a plugin restart, and works the same on every backend that can list keys
    in order.
    """

    def __init__(self, store: Callable[[], KeyValueScanStore]) -> None:
        self._store = store

    async def Scan(  # noqa: N802
        self, request: keyvalue_scan_pb2.ScanRequest, context: Any
    ) -> AsyncIterator[keyvalue_scan_pb2.ScanItem]:
        validate_name("namespace", request.namespace)
        after = decode_cursor(request.cursor)
        sent = 0
        pairs = self._store().scan(
            request.namespace, request.prefix, after, request.keys_only, request.limit
        )
        async for key, value in pairs:
            yield keyvalue_scan_pb2.ScanItem(
                key=key, value=b"" if request.keys_only else value, cursor=encode_cursor(key)
            )
            sent += 1
            if request.limit and sent >= request.limit:
                break

    async def Count(  # noqa: N802
        self, request: keyvalue_scan_pb2.CountRequest, context: Any
    ) -> keyvalue_scan_pb2.CountResponse:
        validate_name("namespace", request.namespace)
        return keyvalue_scan_pb2.CountResponse(
            count=await self._store().count(request.namespace, request.prefix)
        )


def _service_name(module: Any, service: str) -> str:
    return str(module.DESCRIPTOR.services_by_name[service].full_name)


def keyvalue_bindings(kind: type[St], store: Callable[[], St]) -> list[ServiceBinding]:
    """Bindings for every key-value interface the store class ``kind`` implements (basic
    always); ``store()`` returns the store each call is served by."""
    bindings = [
        ServiceBinding(
            keyvalue_basic_pb2_grpc.add_KeyValueBasicInterfaceServicer_to_server,
            KeyValueBasicServicer(store),
            _service_name(keyvalue_basic_pb2, "KeyValueBasicInterface"),
        )
    ]
    if issubclass(kind, KeyValueTTLStore):
        bindings.append(
            ServiceBinding(
                keyvalue_ttl_pb2_grpc.add_KeyValueTTLInterfaceServicer_to_server,
                KeyValueTTLServicer(cast(Callable[[], KeyValueTTLStore], store)),
                _service_name(keyvalue_ttl_pb2, "KeyValueTTLInterface"),
            )
        )
    if issubclass(kind, KeyValueScanStore):
        bindings.append(
            ServiceBinding(
                keyvalue_scan_pb2_grpc.add_KeyValueScanInterfaceServicer_to_server,
                KeyValueScanServicer(cast(Callable[[], KeyValueScanStore], store)),
                _service_name(keyvalue_scan_pb2, "KeyValueScanInterface"),
            )
        )
    return bindings

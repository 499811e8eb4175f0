"""``prism kv|pubsub|health``: a small client for people and scripts.

Output is plain text meant for reading and for shell pipelines (``get`` writes the raw value);
every failure prints ``error: <STATUS>: <message>`` on stderr and exits 1, so a script can
tell "key not found" from "gateway down" by the message and a human sees what happened.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from prism.interfaces import (
    keyvalue_basic_pb2,
    keyvalue_basic_pb2_grpc,
    keyvalue_scan_pb2,
    keyvalue_scan_pb2_grpc,
    keyvalue_ttl_pb2,
    keyvalue_ttl_pb2_grpc,
    pubsub_basic_pb2,
    pubsub_basic_pb2_grpc,
)

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_NOT_SERVING = 1
_OPTIONS = (
    ("grpc.max_receive_message_length", 4 * 1024 * 1024 + 64 * 1024),
    ("grpc.max_send_message_length", 4 * 1024 * 1024 + 64 * 1024),
)

Command = Callable[[argparse.Namespace, grpc.Channel], int]


class _Bearer(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):  # type: ignore[misc]
    """Adds ``authorization: Bearer <token>`` to every call (TLS or not, unlike call creds)."""

    def __init__(self, token: str) -> None:
        self._header = ("authorization", f"Bearer {token}")

    def _details(self, details: Any) -> Any:
        return details._replace(metadata=(*(details.metadata or ()), self._header))

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)


def _read_file(path: str | None, what: str) -> bytes | None:
    if path is None:
        return None
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise ValueError(f"{what} {path}: cannot read: {exc.strerror or exc}") from exc


@contextmanager
def _channel(args: argparse.Namespace) -> Iterator[grpc.Channel]:
    """Plain, TLS (--cacert) or mutual TLS (--cert/--key) channel; --token adds a bearer."""
    cacert = getattr(args, "cacert", None)
    cert, key = getattr(args, "tls_cert", None), getattr(args, "tls_key", None)
    if (cert is None) != (key is None):
        raise ValueError("--cert and --key go together")
    if cacert is None and cert is None:
        channel = grpc.insecure_channel(args.addr, options=_OPTIONS)
    else:
        creds = grpc.ssl_channel_credentials(
            root_certificates=_read_file(cacert, "--cacert"),
            private_key=_read_file(key, "--key"),
            certificate_chain=_read_file(cert, "--cert"),
        )
        channel = grpc.secure_channel(args.addr, creds, options=_OPTIONS)
    with channel:
        token = getattr(args, "token", None)
        yield grpc.intercept_channel(channel, _Bearer(token)) if token else channel


def _run(command: Command) -> Callable[[argparse.Namespace], int]:
    """Open the channel, run ``command``, turn gRPC errors into a message and exit code 1."""

    def run(args: argparse.Namespace) -> int:
        try:
            with _channel(args) as channel:
                return command(args, channel)
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
            details = exc.details() if hasattr(exc, "details") else str(exc)
            print(f"error: {code.name}: {details}", file=sys.stderr)
            if code is grpc.StatusCode.UNAVAILABLE and "connect" in (details or ""):
                print(f"hint: is the gateway running at {args.addr}? (prism up)", file=sys.stderr)
            return EXIT_ERROR
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_ERROR

    return run


def _pairs(items: Sequence[str] | None, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"{what} {item!r} must be KEY=VALUE")
        out[key] = value
    return out


def _value(text: str) -> bytes:
    """The value argument; ``-`` reads standard input (binary-safe)."""
    return sys.stdin.buffer.read() if text == "-" else text.encode("utf-8")


def _write(data: bytes) -> None:
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.write(b"\n")
    sys.stdout.flush()


# -- kv ------------------------------------------------------------------------------------


def kv_set(args: argparse.Namespace, ch: grpc.Channel) -> int:
    req = keyvalue_basic_pb2.SetRequest(
        namespace=args.namespace,
        key=args.key,
        value=_value(args.value),
        tags=_pairs(args.tag, "tag"),
    )
    if args.ttl is not None:
        req.ttl_seconds = args.ttl
    reply = keyvalue_basic_pb2_grpc.KeyValueBasicInterfaceStub(ch).Set(req, timeout=args.timeout)
    print("created" if reply.created else "updated")
    return EXIT_OK


def kv_get(args: argparse.Namespace, ch: grpc.Channel) -> int:
    reply = keyvalue_basic_pb2_grpc.KeyValueBasicInterfaceStub(ch).Get(
        keyvalue_basic_pb2.GetRequest(namespace=args.namespace, key=args.key),
        timeout=args.timeout,
    )
    _write(reply.value)
    if args.tags:
        for key, value in sorted(reply.tags.items()):
            print(f"{key}={value}")
    return EXIT_OK


def kv_delete(args: argparse.Namespace, ch: grpc.Channel) -> int:
    reply = keyvalue_basic_pb2_grpc.KeyValueBasicInterfaceStub(ch).Delete(
        keyvalue_basic_pb2.DeleteRequest(namespace=args.namespace, key=args.key),
        timeout=args.timeout,
    )
    print("deleted" if reply.deleted else "not found")
    return EXIT_OK


def kv_exists(args: argparse.Namespace, ch: grpc.Channel) -> int:
    reply = keyvalue_basic_pb2_grpc.KeyValueBasicInterfaceStub(ch).Exists(
        keyvalue_basic_pb2.ExistsRequest(namespace=args.namespace, key=args.key),
        timeout=args.timeout,
    )
    print("true" if reply.exists else "false")
    return EXIT_OK


def kv_expire(args: argparse.Namespace, ch: grpc.Channel) -> int:
    keyvalue_ttl_pb2_grpc.KeyValueTTLInterfaceStub(ch).Expire(
        keyvalue_ttl_pb2.ExpireRequest(
            namespace=args.namespace, key=args.key, ttl_seconds=args.seconds
        ),
        timeout=args.timeout,
    )
    print(f"expires in {args.seconds:g}s")
    return EXIT_OK


def kv_ttl(args: argparse.Namespace, ch: grpc.Channel) -> int:
    reply = keyvalue_ttl_pb2_grpc.KeyValueTTLInterfaceStub(ch).GetTTL(
        keyvalue_ttl_pb2.GetTTLRequest(namespace=args.namespace, key=args.key),
        timeout=args.timeout,
    )
    print(f"{reply.ttl_seconds:.3f}" if reply.has_ttl else "no ttl")
    return EXIT_OK


def kv_persist(args: argparse.Namespace, ch: grpc.Channel) -> int:
    reply = keyvalue_ttl_pb2_grpc.KeyValueTTLInterfaceStub(ch).Persist(
        keyvalue_ttl_pb2.PersistRequest(namespace=args.namespace, key=args.key),
        timeout=args.timeout,
    )
    print("persisted" if reply.persisted else "had no ttl")
    return EXIT_OK


def kv_scan(args: argparse.Namespace, ch: grpc.Channel) -> int:
    stub = keyvalue_scan_pb2_grpc.KeyValueScanInterfaceStub(ch)
    req = keyvalue_scan_pb2.ScanRequest(
        namespace=args.namespace,
        prefix=args.prefix,
        limit=args.limit,
        cursor=args.cursor,
        keys_only=args.keys_only,
    )
    last = ""
    for item in stub.Scan(req, timeout=args.timeout):
        last = item.cursor
        if args.keys_only:
            print(item.key)
        else:
            sys.stdout.buffer.write(item.key.encode("utf-8") + b"\t" + item.value + b"\n")
    sys.stdout.flush()
    if args.limit and last:
        print(f"next cursor: {last}", file=sys.stderr)
    return EXIT_OK


def kv_count(args: argparse.Namespace, ch: grpc.Channel) -> int:
    reply = keyvalue_scan_pb2_grpc.KeyValueScanInterfaceStub(ch).Count(
        keyvalue_scan_pb2.CountRequest(namespace=args.namespace, prefix=args.prefix),
        timeout=args.timeout,
    )
    print(reply.count)
    return EXIT_OK


# -- pubsub --------------------------------------------------------------------------------


def ps_publish(args: argparse.Namespace, ch: grpc.Channel) -> int:
    reply = pubsub_basic_pb2_grpc.PubSubBasicInterfaceStub(ch).Publish(
        pubsub_basic_pb2.PublishRequest(
            namespace=args.namespace,
            topic=args.topic,
            payload=_value(args.payload),
            metadata=_pairs(args.meta, "metadata"),
        ),
        timeout=args.timeout,
    )
    print(reply.message_id)
    return EXIT_OK


def ps_subscribe(args: argparse.Namespace, ch: grpc.Channel) -> int:
    """Print each message as it arrives (``payload`` or ``id<TAB>payload`` with --ids), then
    acknowledge it: a message is acknowledged only once printed, so ``--count N`` acknowledges
    exactly N and the next subscribe with the same id gets the rest (``--auto-ack`` trades that
    for at-most-once)."""
    stub = pubsub_basic_pb2_grpc.PubSubBasicInterfaceStub(ch)
    mode = pubsub_basic_pb2.ACK_MODE_AUTO if args.auto_ack else pubsub_basic_pb2.ACK_MODE_CLIENT
    stream = stub.Subscribe(
        pubsub_basic_pb2.SubscribeRequest(
            namespace=args.namespace, topic=args.topic, subscriber_id=args.subscriber, ack_mode=mode
        ),
        timeout=args.for_seconds,
    )
    seen = 0
    try:
        stream.initial_metadata()  # the subscription is active from here on
        print(f"subscribed to {args.topic} as {args.subscriber}", file=sys.stderr, flush=True)
        for msg in stream:
            prefix = msg.message_id.encode() + b"\t" if args.ids else b""
            _write(prefix + msg.payload)
            if msg.ack_id:
                stub.Ack(
                    pubsub_basic_pb2.AckRequest(
                        namespace=args.namespace,
                        topic=args.topic,
                        subscriber_id=args.subscriber,
                        ack_ids=[msg.ack_id],
                    ),
                    timeout=args.timeout,
                )
            seen += 1
            if args.count and seen >= args.count:
                break
    except grpc.RpcError as exc:
        if exc.code() is grpc.StatusCode.DEADLINE_EXCEEDED and args.for_seconds:
            return EXIT_OK  # --for elapsed: a normal end
        raise
    finally:
        stream.cancel()
    return EXIT_OK


def ps_unsubscribe(args: argparse.Namespace, ch: grpc.Channel) -> int:
    reply = pubsub_basic_pb2_grpc.PubSubBasicInterfaceStub(ch).Unsubscribe(
        pubsub_basic_pb2.UnsubscribeRequest(
            namespace=args.namespace, topic=args.topic, subscriber_id=args.subscriber
        ),
        timeout=args.timeout,
    )
    print("unsubscribed" if reply.unsubscribed else "no such subscription")
    return EXIT_OK


# -- health --------------------------------------------------------------------------------


def health(args: argparse.Namespace, ch: grpc.Channel) -> int:
    service = args.service if args.service is not None else (args.namespace or "")
    try:
        reply = health_pb2_grpc.HealthStub(ch).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=args.timeout
        )
    except grpc.RpcError as exc:
        if exc.code() is not grpc.StatusCode.NOT_FOUND:
            raise
        what = f"namespace {service!r}" if args.service is None else f"service {service!r}"
        print(
            f"error: NOT_FOUND: {what} is not known to the gateway at {args.addr}", file=sys.stderr
        )
        return EXIT_ERROR
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    label = f"namespace {service}" if service else "gateway"
    print(f"{label}: {status}")
    return EXIT_OK if reply.status == health_pb2.HealthCheckResponse.SERVING else EXIT_NOT_SERVING


# -- parsers -------------------------------------------------------------------------------


def add_parsers(
    commands: Any, parents: list[argparse.ArgumentParser], conn_only: list[argparse.ArgumentParser]
) -> None:
    """Add ``kv``, ``pubsub`` and ``health``; ``parents`` add --addr/--timeout/-n."""
    kv = commands.add_parser("kv", help="key-value commands").add_subparsers(
        dest="kv_command", required=True, metavar="COMMAND"
    )

    def sub(group: Any, name: str, fn: Command, help_: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = group.add_parser(name, parents=parents, help=help_)
        p.set_defaults(func=_run(fn))
        return p

    p = sub(kv, "set", kv_set, "set a key (VALUE '-' reads stdin)")
    p.add_argument("key")
    p.add_argument("value")
    p.add_argument("--ttl", type=float, help="expire after this many seconds")
    p.add_argument("--tag", action="append", metavar="K=V", help="a tag (repeatable)")
    p = sub(kv, "get", kv_get, "print a key's value")
    p.add_argument("key")
    p.add_argument("--tags", action="store_true", help="also print the tags (k=v lines)")
    for name, fn, help_ in (
        ("delete", kv_delete, "delete a key"),
        ("exists", kv_exists, "print true/false"),
        ("ttl", kv_ttl, "print the seconds left before a key expires"),
        ("persist", kv_persist, "remove a key's TTL"),
    ):
        sub(kv, name, fn, help_).add_argument("key")
    p = sub(kv, "expire", kv_expire, "set a key's TTL")
    p.add_argument("key")
    p.add_argument("seconds", type=float)
    p = sub(kv, "scan", kv_scan, "list keys (and values) by prefix, in key order")
    p.add_argument("prefix", nargs="?", default="")
    p.add_argument("--limit", type=int, default=0, help="at most this many (0 = all)")
    p.add_argument("--cursor", default="", help="resume after this cursor")
    p.add_argument("--keys-only", action="store_true")
    p = sub(kv, "count", kv_count, "count keys by prefix")
    p.add_argument("prefix", nargs="?", default="")

    ps = commands.add_parser("pubsub", help="publish/subscribe commands").add_subparsers(
        dest="pubsub_command", required=True, metavar="COMMAND"
    )
    p = sub(ps, "publish", ps_publish, "publish a message (PAYLOAD '-' reads stdin)")
    p.add_argument("topic")
    p.add_argument("payload")
    p.add_argument("--meta", action="append", metavar="K=V", help="metadata (repeatable)")
    p = sub(ps, "subscribe", ps_subscribe, "print messages as they arrive (Ctrl-C stops)")
    p.add_argument("topic")
    p.add_argument(
        "--subscriber",
        default=f"prism-cli-{os.getpid()}",
        help="subscriber id (reuse one to resume where it stopped; see docs/contract.md for"
        " how long an idle id is kept)",
    )
    p.add_argument("--count", type=int, default=0, help="acknowledge this many messages, then exit")
    p.add_argument(
        "--auto-ack",
        action="store_true",
        help="at-most-once: messages count as acknowledged once sent (none are redelivered)",
    )
    p.add_argument(
        "--for", dest="for_seconds", type=float, default=None, help="exit after this many seconds"
    )
    p.add_argument("--ids", action="store_true", help="prefix each message with its id")
    p = sub(ps, "unsubscribe", ps_unsubscribe, "end a subscriber's streams")
    p.add_argument("topic")
    p.add_argument("--subscriber", required=True)

    p = commands.add_parser("health", parents=conn_only, help="check the gateway's health")
    p.add_argument("-n", "--namespace", default=None, help="one namespace (default: all)")
    p.add_argument("--service", default=None, help="raw grpc.health.v1 service name")
    p.set_defaults(func=_run(health))

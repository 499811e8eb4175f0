"""Conformance tests for MulticastRegistryInterface (Register / Unregister / Enumerate /
Multicast / Receive)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import grpc

from prism.interfaces import multicast_registry_pb2 as pb
from prism.sdk.limits import (
    MAX_ENUMERATE_PAGE_SIZE,
    MAX_IDENTITY_BYTES,
    MAX_METADATA_BYTES,
    MAX_METADATA_ENTRIES,
    MAX_MULTICAST_PAYLOAD_BYTES,
)
from prism.sdk.testing._base import ConformanceBase
from prism.sdk.testing._registry_client import Cond, RegistryClient, make_filter
from prism.sdk.testing._support import key_of_bytes, unique

INVALID = grpc.StatusCode.INVALID_ARGUMENT
EQ = pb.FILTER_OP_EQ


async def _drain(call: Any) -> None:
    async for _ in call:
        pass


class MulticastRegistryConformance(ConformanceBase):
    """MulticastRegistryInterface: registration, expiry, filters, paging, delivery accounting,
    and INVALID_ARGUMENT for bad input with nothing half-registered.

    Every test tags its registrations with a unique ``run`` metadata value and filters on it,
    so tests sharing one namespace (and one backend) do not see each other's identities.
    """

    def registry(self, channel: Any, namespace: str) -> RegistryClient:
        return RegistryClient(
            channel, namespace, self.rpc_timeout_seconds, self.message_timeout_seconds
        )

    @staticmethod
    def run_filter(run: str, *more: Cond) -> pb.Filter:
        return make_filter(("run", EQ, [run]), *more)

    async def test_register_enumerate_replace(
        self, prism_channel: Any, prism_namespace: str
    ) -> None:
        async with self.registry(prism_channel, prism_namespace) as reg:
            run, who = unique("run"), unique("id")
            assert await reg.register(who, {"run": run, "region": "eu"}) is True
            assert await reg.enumerate(self.run_filter(run)) == {who: {"run": run, "region": "eu"}}
            assert await reg.register(who, {"run": run, "tier": "gold"}) is False, "replaced"
            assert await reg.enumerate(self.run_filter(run)) == {who: {"run": run, "tier": "gold"}}

    async def test_unregister_is_idempotent(self, prism_channel: Any, prism_namespace: str) -> None:
        async with self.registry(prism_channel, prism_namespace) as reg:
            run, who = unique("run"), unique("id")
            await reg.register(who, {"run": run})
            assert await reg.unregister(who) is True
            assert await reg.unregister(who) is False
            assert await reg.unregister(unique("never")) is False
            assert await reg.enumerate(self.run_filter(run)) == {}

    async def test_registration_expires(self, prism_channel: Any, prism_namespace: str) -> None:
        async with self.registry(prism_channel, prism_namespace) as reg:
            run, short, forever = unique("run"), unique("short"), unique("forever")
            before_ms = time.time() * 1000
            await reg.register(short, {"run": run}, ttl=self.ttl_seconds)
            await reg.register(forever, {"run": run})
            pages = await reg.enumerate_pages(self.run_filter(run))
            expiry = {r.identity: r.expire_time_ms for page in pages for r in page}
            assert expiry[forever] == 0
            expected = before_ms + self.ttl_seconds * 1000
            assert abs(expiry[short] - expected) < 3_600_000, "expire_time_ms in Unix ms"
            deadline = time.monotonic() + self.ttl_seconds + self.ttl_grace_seconds
            while (await reg.multicast(self.run_filter(run))).targeted != 1:
                assert time.monotonic() < deadline, "expired registration still multicast to"
                await asyncio.sleep(self.poll_interval_seconds)
            while short in await reg.enumerate(self.run_filter(run)):
                assert time.monotonic() < deadline, "expired registration still enumerated"
                await asyncio.sleep(self.poll_interval_seconds)
            assert set(await reg.enumerate(self.run_filter(run))) == {forever}
            assert await reg.register(short, {"run": run}) is True, "an expired one is gone"

    async def test_filter_operators(self, prism_channel: Any, prism_namespace: str) -> None:
        async with self.registry(prism_channel, prism_namespace) as reg:
            run = unique("run")
            people = {
                "a": {"region": "eu-west", "tier": "gold", "age": "30"},
                "b": {"region": "eu-east", "tier": "silver", "age": "45.5"},
                "c": {"region": "us-east", "age": "x"},
                "d": {"region": "ap", "tier": "gold", "age": "-2"},
            }
            ids = {k: unique(k) for k in people}
            for k, meta in people.items():
                await reg.register(ids[k], {"run": run, **meta})

            async def match(*conds: Cond) -> set[str]:
                found = await reg.enumerate(self.run_filter(run, *conds))
                return {k for k, v in ids.items() if v in found}

            assert await match() == {"a", "b", "c", "d"}
            assert await match(("tier", pb.FILTER_OP_EQ, ["gold"])) == {"a", "d"}
            assert await match(("tier", pb.FILTER_OP_NE, ["gold"])) == {"b", "c"}
            assert await match(("tier", pb.FILTER_OP_IN, ["silver", "bronze"])) == {"b"}
            assert await match(("tier", pb.FILTER_OP_EXISTS, [])) == {"a", "b", "d"}
            assert await match(("tier", pb.FILTER_OP_NOT_EXISTS, [])) == {"c"}
            assert await match(("region", pb.FILTER_OP_PREFIX, ["eu-"])) == {"a", "b"}
            assert await match(("age", pb.FILTER_OP_LT, ["30"])) == {"d"}
            assert await match(("age", pb.FILTER_OP_LE, ["30"])) == {"a", "d"}
            assert await match(("age", pb.FILTER_OP_GT, ["30"])) == {"b"}
            assert await match(("age", pb.FILTER_OP_GE, ["-2"])) == {"a", "b", "d"}
            anded = await match(
                ("region", pb.FILTER_OP_PREFIX, ["eu"]), ("tier", pb.FILTER_OP_EQ, ["gold"])
            )
            assert anded == {"a"}, "conditions are ANDed"

    async def test_enumerate_streams_pages(self, prism_channel: Any, prism_namespace: str) -> None:
        async with self.registry(prism_channel, prism_namespace) as reg:
            run = unique("run")
            ids = {unique("id") for _ in range(25)}
            for who in ids:
                await reg.register(who, {"run": run})
            pages = await reg.enumerate_pages(self.run_filter(run), page_size=10)
            assert all(len(page) <= 10 for page in pages)
            assert len(pages) >= 3
            assert [r.identity for page in pages for r in page].count(next(iter(ids))) == 1
            assert {r.identity for page in pages for r in page} == ids

    async def test_multicast_counts_live_receivers_only(
        self, prism_channel: Any, prism_namespace: str
    ) -> None:
        async with self.registry(prism_channel, prism_namespace) as reg:
            run = unique("run")
            live = [unique("live") for _ in range(3)]
            absent = [unique("absent") for _ in range(2)]
            other = unique("other")
            for who in [*live, *absent]:
                await reg.register(who, {"run": run, "group": "g"})
            await reg.register(other, {"run": run, "group": "h"})
            streams = [await reg.receive(who) for who in live]
            outsider = await reg.receive(other)
            before_us = time.time_ns() // 1000
            reply = await reg.multicast(
                self.run_filter(run, ("group", EQ, ["g"])), b"\x00hello\xff", {"k": "v"}
            )
            assert (reply.targeted, reply.delivered, reply.no_receiver, reply.failed) == (
                5,
                3,
                2,
                0,
            )
            for stream in streams:
                message = await stream.receive(self.message_timeout_seconds)
                assert message.payload == b"\x00hello\xff"
                assert dict(message.headers) == {"k": "v"}
                assert message.message_id
                # Send time in Unix microseconds; allow an hour of clock skew.
                assert abs(message.send_time_us - before_us) < 3_600_000_000
            await outsider.expect_quiet(self.quiet_period_seconds)

    async def test_closed_receiver_is_not_live(
        self, prism_channel: Any, prism_namespace: str
    ) -> None:
        async with self.registry(prism_channel, prism_namespace) as reg:
            run, who = unique("run"), unique("id")
            await reg.register(who, {"run": run})
            stream = await reg.receive(who)
            assert (await reg.multicast(self.run_filter(run))).delivered == 1
            await stream.close()
            deadline = time.monotonic() + self.message_timeout_seconds
            while (reply := await reg.multicast(self.run_filter(run))).delivered:
                assert time.monotonic() < deadline, "a cancelled receiver still counts as live"
                await asyncio.sleep(self.poll_interval_seconds)
            assert (reply.targeted, reply.no_receiver) == (1, 1)

    async def test_multicast_with_no_match(self, prism_channel: Any, prism_namespace: str) -> None:
        async with self.registry(prism_channel, prism_namespace) as reg:
            reply = await reg.multicast(self.run_filter(unique("run")), b"x")
            assert (reply.targeted, reply.delivered, reply.no_receiver, reply.failed) == (
                0,
                0,
                0,
                0,
            )

    async def test_bad_registrations_are_rejected_whole(
        self, prism_channel: Any, prism_namespace: str
    ) -> None:
        async with self.registry(prism_channel, prism_namespace) as reg:
            run, who = unique("run"), unique("id")
            meta = {"run": run}
            too_many = {**meta, **{f"k{i}": "v" for i in range(MAX_METADATA_ENTRIES)}}
            too_big = {**meta, "blob": "x" * MAX_METADATA_BYTES}
            cases = [
                ("", meta, 0.0, "identity"),
                (key_of_bytes(MAX_IDENTITY_BYTES + 1, "id"), meta, 0.0, "identity"),
                (who, too_many, 0.0, "metadata"),
                (who, too_big, 0.0, "metadata"),
                (who, meta, -1.0, "ttl"),
            ]
            for identity, metadata, ttl, named in cases:
                err = await reg.expect(
                    INVALID, reg.register_call(identity, metadata, ttl), f"Register({named})"
                )
                assert named in (err.details() or ""), err.details()
            assert await reg.enumerate(self.run_filter(run)) == {}, "nothing half-registered"

    async def test_malformed_filters_are_rejected(
        self, prism_channel: Any, prism_namespace: str
    ) -> None:
        async with self.registry(prism_channel, prism_namespace) as reg:
            bad = [
                make_filter(("k", pb.FILTER_OP_UNSPECIFIED, ["v"])),
                make_filter(("", EQ, ["v"])),
                make_filter(("k", EQ, [])),
                make_filter(("k", pb.FILTER_OP_IN, [])),
                make_filter(("k", pb.FILTER_OP_EXISTS, ["v"])),
                make_filter(("k", pb.FILTER_OP_LT, ["ten"])),
            ]
            for where in bad:
                err = await reg.expect(INVALID, _drain(reg.enumerate_call(where)), "Enumerate")
                assert "filter" in (err.details() or ""), err.details()
                err = await reg.expect(INVALID, reg.multicast_call(where), "Multicast")
                assert "filter" in (err.details() or ""), err.details()

    async def test_bad_multicast_enumerate_receive_input(
        self, prism_channel: Any, prism_namespace: str
    ) -> None:
        async with self.registry(prism_channel, prism_namespace) as reg:
            where = self.run_filter(unique("run"))
            big = b"x" * (MAX_MULTICAST_PAYLOAD_BYTES + 1)
            err = await reg.expect(INVALID, reg.multicast_call(where, big), "Multicast(payload)")
            assert "payload" in (err.details() or "")
            call = reg.enumerate_call(where, MAX_ENUMERATE_PAGE_SIZE + 1)
            err = await reg.expect(INVALID, _drain(call), "Enumerate(page_size)")
            assert "page_size" in (err.details() or "")
            err = await reg.expect(INVALID, _drain(reg.receive_call("")), "Receive(identity)")
            assert "identity" in (err.details() or "")

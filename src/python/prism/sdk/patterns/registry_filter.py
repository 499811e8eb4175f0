"""Registry filters: parsed once from the wire (INVALID_ARGUMENT naming the bad condition),
then evaluated against a registration's metadata.

Why one module: the coordinator re-checks every registration a registry slot returns (a slot
may pre-filter, or not at all), so the rules must exist exactly once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from prism.interfaces import multicast_registry_pb2 as pb
from prism.sdk.errors import InvalidArgumentError
from prism.sdk.limits import (
    MAX_FILTER_CONDITIONS,
    MAX_FILTER_VALUE_BYTES,
    MAX_FILTER_VALUES,
    MAX_METADATA_KEY_BYTES,
)

__all__ = ["Condition", "Filter", "parse_filter"]

_NUMERIC = {pb.FILTER_OP_LT, pb.FILTER_OP_LE, pb.FILTER_OP_GT, pb.FILTER_OP_GE}
_NO_VALUES = {pb.FILTER_OP_EXISTS, pb.FILTER_OP_NOT_EXISTS}


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class Condition:
    key: str
    op: int  # a prism.FilterOp value
    values: tuple[str, ...] = ()
    number: float = 0.0  # values[0] as a number, for the numeric ops

    def matches(self, metadata: Mapping[str, str]) -> bool:
        value = metadata.get(self.key)
        op = self.op
        if op == pb.FILTER_OP_EXISTS:
            return value is not None
        if op == pb.FILTER_OP_NOT_EXISTS:
            return value is None
        if op == pb.FILTER_OP_NE:
            return value != self.values[0]
        if value is None:
            return False
        if op == pb.FILTER_OP_EQ:
            return value == self.values[0]
        if op == pb.FILTER_OP_IN:
            return value in self.values
        if op == pb.FILTER_OP_PREFIX:
            return value.startswith(self.values[0])
        number = _number(value)
        if number is None:
            return False
        if op == pb.FILTER_OP_LT:
            return number < self.number
        if op == pb.FILTER_OP_LE:
            return number <= self.number
        if op == pb.FILTER_OP_GT:
            return number > self.number
        return number >= self.number  # FILTER_OP_GE


@dataclass(frozen=True)
class Filter:
    """Conditions ANDed; no conditions matches everything."""

    conditions: tuple[Condition, ...] = ()

    def matches(self, metadata: Mapping[str, str]) -> bool:
        return all(c.matches(metadata) for c in self.conditions)

    def index_terms(self) -> tuple[str, tuple[str, ...]] | None:
        """``(key, values)`` a (key, value) index can answer: every match has ``key`` equal to
        one of ``values``. The first EQ condition, else the first IN; None for a filter that
        has neither (the slot reads everything)."""
        for op in (pb.FILTER_OP_EQ, pb.FILTER_OP_IN):
            for c in self.conditions:
                if c.op == op:
                    return c.key, tuple(dict.fromkeys(c.values))
        return None

    def index_answer(self) -> tuple[str, tuple[str, ...]] | None:
        """``(key, values)`` when that index answers this filter completely: every condition
        is EQ or IN on one key, so an identity matches exactly when its ``key`` is one of
        ``values`` (the conditions' common values; none: nothing matches). None otherwise:
        then each candidate registration must be read and re-checked."""
        if not self.conditions:
            return None
        key = self.conditions[0].key
        values: dict[str, None] | None = None
        for c in self.conditions:
            if c.key != key or c.op not in (pb.FILTER_OP_EQ, pb.FILTER_OP_IN):
                return None
            allowed = dict.fromkeys(c.values)
            values = allowed if values is None else {v: None for v in values if v in allowed}
        return key, tuple(values or ())


def _condition(index: int, wire: pb.FilterCondition) -> Condition:
    where = f"filter condition {index}"
    if not wire.key:
        raise InvalidArgumentError(f"{where}: key must not be empty")
    if len(wire.key.encode("utf-8", "surrogatepass")) > MAX_METADATA_KEY_BYTES:
        raise InvalidArgumentError(f"{where}: key is longer than {MAX_METADATA_KEY_BYTES} bytes")
    op, values = wire.op, tuple(wire.values)
    if op not in pb.FilterOp.values() or op == pb.FILTER_OP_UNSPECIFIED:
        raise InvalidArgumentError(f"{where} ({wire.key!r}): op must be set (got {op})")
    name = pb.FilterOp.Name(op)
    if op in _NO_VALUES:
        if values:
            raise InvalidArgumentError(f"{where} ({wire.key!r}): {name} takes no values")
    elif op == pb.FILTER_OP_IN:
        if not values or len(values) > MAX_FILTER_VALUES:
            raise InvalidArgumentError(
                f"{where} ({wire.key!r}): {name} takes 1 to {MAX_FILTER_VALUES} values, "
                f"got {len(values)}"
            )
    elif len(values) != 1:
        raise InvalidArgumentError(
            f"{where} ({wire.key!r}): {name} takes exactly 1 value, got {len(values)}"
        )
    for value in values:
        if len(value.encode("utf-8", "surrogatepass")) > MAX_FILTER_VALUE_BYTES:
            raise InvalidArgumentError(
                f"{where} ({wire.key!r}): a value is longer than {MAX_FILTER_VALUE_BYTES} bytes"
            )
    number = 0.0
    if op in _NUMERIC:
        parsed = _number(values[0])
        if parsed is None:
            raise InvalidArgumentError(
                f"{where} ({wire.key!r}): {name} needs a number, got {values[0][:40]!r}"
            )
        number = parsed
    return Condition(wire.key, op, values, number)


def parse_filter(wire: pb.Filter) -> Filter:
    """The validated filter; INVALID_ARGUMENT names the first bad condition."""
    if len(wire.conditions) > MAX_FILTER_CONDITIONS:
        raise InvalidArgumentError(
            f"filter has {len(wire.conditions)} conditions; the limit is {MAX_FILTER_CONDITIONS}"
        )
    return Filter(tuple(_condition(i, c) for i, c in enumerate(wire.conditions)))

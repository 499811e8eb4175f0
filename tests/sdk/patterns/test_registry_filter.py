"""Registry filters: parsing errors name the bad condition; evaluation follows the contract."""

from __future__ import annotations

import pytest

from prism.interfaces import multicast_registry_pb2 as pb
from prism.sdk.errors import InvalidArgumentError
from prism.sdk.limits import MAX_FILTER_CONDITIONS, MAX_FILTER_VALUES
from prism.sdk.patterns import parse_filter


def f(*conds: tuple[str, pb.FilterOp.ValueType, list[str]]) -> pb.Filter:
    return pb.Filter(conditions=[pb.FilterCondition(key=k, op=op, values=v) for k, op, v in conds])


META = {"region": "eu-west", "tier": "gold", "age": "30", "bad": "1e999"}


@pytest.mark.parametrize(
    ("cond", "expected"),
    [
        (("tier", pb.FILTER_OP_EQ, ["gold"]), True),
        (("tier", pb.FILTER_OP_EQ, ["Gold"]), False),
        (("tier", pb.FILTER_OP_NE, ["gold"]), False),
        (("missing", pb.FILTER_OP_NE, ["gold"]), True),
        (("tier", pb.FILTER_OP_IN, ["silver", "gold"]), True),
        (("missing", pb.FILTER_OP_IN, ["gold"]), False),
        (("tier", pb.FILTER_OP_EXISTS, []), True),
        (("missing", pb.FILTER_OP_EXISTS, []), False),
        (("missing", pb.FILTER_OP_NOT_EXISTS, []), True),
        (("region", pb.FILTER_OP_PREFIX, ["eu-"]), True),
        (("region", pb.FILTER_OP_PREFIX, ["us-"]), False),
        (("age", pb.FILTER_OP_LT, ["30.5"]), True),
        (("age", pb.FILTER_OP_LT, ["30"]), False),
        (("age", pb.FILTER_OP_LE, ["30"]), True),
        (("age", pb.FILTER_OP_GT, ["3e1"]), False),
        (("age", pb.FILTER_OP_GE, ["30"]), True),
        (("tier", pb.FILTER_OP_GE, ["0"]), False),  # not a number: no match
        (("bad", pb.FILTER_OP_GE, ["0"]), False),  # infinite: no match
        (("missing", pb.FILTER_OP_LT, ["100"]), False),
    ],
)
def test_operator(cond: tuple[str, pb.FilterOp.ValueType, list[str]], expected: bool) -> None:
    assert parse_filter(f(cond)).matches(META) is expected


def test_conditions_are_anded_and_empty_matches_all() -> None:
    assert parse_filter(pb.Filter()).matches({})
    both = f(("tier", pb.FILTER_OP_EQ, ["gold"]), ("age", pb.FILTER_OP_GT, ["40"]))
    assert not parse_filter(both).matches(META)
    assert parse_filter(both).matches({**META, "age": "41"})


@pytest.mark.parametrize(
    ("wire", "named"),
    [
        (f(("k", pb.FILTER_OP_UNSPECIFIED, [])), "op must be set"),
        (f(("k", pb.FilterOp.ValueType(99), ["v"])), "op must be set"),
        (f(("", pb.FILTER_OP_EQ, ["v"])), "key must not be empty"),
        (f(("k", pb.FILTER_OP_EQ, [])), "exactly 1 value"),
        (f(("k", pb.FILTER_OP_PREFIX, ["a", "b"])), "exactly 1 value"),
        (f(("k", pb.FILTER_OP_IN, [])), "1 to"),
        (f(("k", pb.FILTER_OP_IN, ["v"] * (MAX_FILTER_VALUES + 1))), "1 to"),
        (f(("k", pb.FILTER_OP_NOT_EXISTS, ["v"])), "takes no values"),
        (f(("k", pb.FILTER_OP_LT, ["ten"])), "needs a number"),
        (f(("k", pb.FILTER_OP_GE, ["nan"])), "needs a number"),
        (f(*[("k", pb.FILTER_OP_EXISTS, [])] * (MAX_FILTER_CONDITIONS + 1)), "conditions"),
    ],
)
def test_malformed_filter_names_the_problem(wire: pb.Filter, named: str) -> None:
    with pytest.raises(InvalidArgumentError) as err:
        parse_filter(wire)
    assert named in str(err.value)
    assert "filter" in str(err.value)


def test_error_names_the_condition_index() -> None:
    wire = f(("a", pb.FILTER_OP_EXISTS, []), ("b", pb.FILTER_OP_LT, ["x"]))
    with pytest.raises(InvalidArgumentError, match=r"condition 1 \('b'\)"):
        parse_filter(wire)


@pytest.mark.parametrize(
    ("conds", "terms"),
    [
        ([], None),
        ([("tier", pb.FILTER_OP_PREFIX, ["g"]), ("age", pb.FILTER_OP_GT, ["3"])], None),
        ([("tier", pb.FILTER_OP_IN, ["a", "b", "a"])], ("tier", ("a", "b"))),
        (
            [("tier", pb.FILTER_OP_IN, ["a", "b"]), ("region", pb.FILTER_OP_EQ, ["eu"])],
            ("region", ("eu",)),
        ),
        ([("tier", pb.FILTER_OP_NE, ["a"]), ("tier", pb.FILTER_OP_EQ, ["b"])], ("tier", ("b",))),
    ],
)
def test_index_terms_pick_an_equality_then_an_in(
    conds: list[tuple[str, pb.FilterOp.ValueType, list[str]]],
    terms: tuple[str, tuple[str, ...]] | None,
) -> None:
    assert parse_filter(f(*conds)).index_terms() == terms


@pytest.mark.parametrize(
    ("conds", "answer"),
    [
        ([], None),
        ([("group", pb.FILTER_OP_EQ, ["g1"])], ("group", ("g1",))),
        ([("tier", pb.FILTER_OP_IN, ["a", "b", "a"])], ("tier", ("a", "b"))),
        (
            [("tier", pb.FILTER_OP_IN, ["a", "b", "c"]), ("tier", pb.FILTER_OP_IN, ["c", "a"])],
            ("tier", ("a", "c")),
        ),
        ([("tier", pb.FILTER_OP_EQ, ["a"]), ("tier", pb.FILTER_OP_EQ, ["b"])], ("tier", ())),
        # Anything the index alone cannot decide: each registration is read and re-checked.
        ([("tier", pb.FILTER_OP_EQ, ["a"]), ("region", pb.FILTER_OP_EQ, ["eu"])], None),
        ([("tier", pb.FILTER_OP_EQ, ["a"]), ("tier", pb.FILTER_OP_NE, ["b"])], None),
        ([("tier", pb.FILTER_OP_PREFIX, ["g"])], None),
        ([("tier", pb.FILTER_OP_EXISTS, [])], None),
    ],
)
def test_index_answer_only_for_eq_and_in_on_one_key(
    conds: list[tuple[str, pb.FilterOp.ValueType, list[str]]],
    answer: tuple[str, tuple[str, ...]] | None,
) -> None:
    assert parse_filter(f(*conds)).index_answer() == answer

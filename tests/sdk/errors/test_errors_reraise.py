"""reraise_classified(): client errors a classifier knows leave as PrismErrors, others as-is."""

from __future__ import annotations

import pytest

from prism.sdk.errors import (
    DeadlineExceededError,
    PrismError,
    UnavailableError,
    reraise_classified,
)


class ClientDown(Exception):
    pass


class ClientSlow(Exception):
    pass


def down(exc: BaseException) -> PrismError | None:
    return UnavailableError(f"down: {exc}") if isinstance(exc, ClientDown) else None


def slow(exc: BaseException) -> PrismError | None:
    return DeadlineExceededError("slow") if isinstance(exc, ClientSlow | ClientDown) else None


def test_recognised_errors_are_raised_as_their_prism_error() -> None:
    with pytest.raises(UnavailableError, match="down: gone") as info:
        with reraise_classified([down, slow]):  # the first answer wins
            raise ClientDown("gone")
    assert isinstance(info.value.__cause__, ClientDown)
    with pytest.raises(DeadlineExceededError):
        with reraise_classified([down, slow]):
            raise ClientSlow()


def test_unrecognised_errors_pass_unchanged() -> None:
    original = KeyError("BUSYGROUP")
    with pytest.raises(KeyError) as info:
        with reraise_classified([down]):
            raise original
    assert info.value is original
    with pytest.raises(ClientDown):
        with reraise_classified([]):
            raise ClientDown()


def test_no_error_no_effect() -> None:
    with reraise_classified([down]):
        value = 1
    assert value == 1

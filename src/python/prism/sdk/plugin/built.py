"""Built: a plugin attribute for what the plugin builds from its final settings.

Why: Initialize may replace the settings (the proxy's per-namespace overrides) after the
plugin object was made, so a store or pool made in ``__init__`` would be built from the
wrong ones. A plugin declares such objects as ``Built`` attributes and assigns them in
``initialize()``, which the runtime runs once, after the overrides. Reading one before that is
a FAILED_PRECONDITION naming it (:class:`NotBuiltError`), not an AttributeError; assigning
one twice is refused. Servicers are made before Initialize, so they reach the objects through
a callable (``lambda: self.store``) and always serve what was built.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar, cast, overload

from prism.sdk.errors import FailedPreconditionError

__all__ = ["Built", "NotBuiltError", "built_objects", "forget_built", "unbuilt"]

T = TypeVar("T")


class NotBuiltError(FailedPreconditionError):
    """A ``Built`` attribute was read before the plugin's initialize() assigned it."""


def _owner(obj: object) -> str:
    name = getattr(obj, "name", None)
    return f"plugin {name}" if isinstance(name, str) else type(obj).__name__


class Built(Generic[T]):
    """Declare ``store = Built[MyStore]()`` on the plugin class; assign it in initialize()."""

    def __init__(self) -> None:
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Built[T]: ...

    @overload
    def __get__(self, obj: object, owner: type | None = None) -> T: ...

    def __get__(self, obj: object | None, owner: type | None = None) -> Built[T] | T:
        if obj is None:
            return self
        try:
            return cast(T, vars(obj)[self.name])
        except KeyError:
            raise NotBuiltError(
                f"{_owner(obj)}: {self.name} is not built yet (a plugin builds it in "
                "initialize(), once Initialize has made the settings final)"
            ) from None

    def __set__(self, obj: object, value: T) -> None:
        if self.name in vars(obj):
            raise FailedPreconditionError(
                f"{_owner(obj)}: {self.name} is already built (the runtime builds once)"
            )
        vars(obj)[self.name] = value


def _declared(obj: object) -> list[str]:
    names: dict[str, None] = {}
    for klass in reversed(type(obj).__mro__):
        names.update((n, None) for n, v in vars(klass).items() if isinstance(v, Built))
    return list(names)


def unbuilt(obj: object) -> list[str]:
    """The Built attributes of ``obj`` not assigned yet, in declaration order."""
    return [name for name in _declared(obj) if name not in vars(obj)]


def built_objects(obj: object) -> list[Any]:
    """The values of ``obj``'s assigned Built attributes, in declaration order."""
    return [vars(obj)[name] for name in _declared(obj) if name in vars(obj)]


def forget_built(obj: object) -> None:
    """Drop every Built value (after a failed build, so a retried Initialize starts afresh)."""
    for name in _declared(obj):
        vars(obj).pop(name, None)

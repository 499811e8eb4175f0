"""reraise_classified(): let a backend client's own errors leave a block as PrismErrors."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from prism.sdk.errors._classify import Classifier


@contextmanager
def reraise_classified(classifiers: Sequence[Classifier]) -> Iterator[None]:
    """Re-raise an exception a plugin classifier recognises as its PrismError (``from`` it).

    Client-library errors (redis-py's ConnectionError is no OSError) then reach retry, pool,
    breaker and caller as the kind they are. Exceptions no classifier recognises leave
    unchanged, so the plugin can still inspect backend replies (e.g. Redis "BUSYGROUP").
    """
    try:
        yield
    except Exception as exc:
        for classifier in classifiers:
            err = classifier(exc)
            if err is not None:
                raise err from exc
        raise

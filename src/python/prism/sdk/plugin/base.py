"""The Plugin base class: what a plugin author writes, and nothing the SDK can do for them."""

from __future__ import annotations

import abc
import logging
from collections.abc import Sequence
from typing import Any, ClassVar, Generic, TypeVar, get_args, get_origin

from prism.sdk.config import PluginSettings
from prism.sdk.errors import Classifier
from prism.sdk.health import HealthChecker
from prism.sdk.patterns import Coordinator, KeyValueStore, PubSubBroker
from prism.sdk.server import ServiceBinding

S = TypeVar("S", bound=PluginSettings)


class Plugin(abc.ABC, Generic[S]):
    """Base class for a Prism pattern plugin.

    Subclasses set ``name`` and ``version`` (``settings_class`` is the ``S`` of ``Plugin[S]``),
    declare what they build from their settings as ``Built`` attributes (store, broker,
    pool...) and assign them in ``initialize()``, which the runtime runs once the settings are final (after Initialize
    overrides). ``servicers()`` is called before that, so it binds through callables
    (``keyvalue_bindings(MyStore, lambda: self.store)``). Built objects that are a
    ``prism.sdk.backend.Resource`` (a GuardedPool, say) get their health checks registered,
    are started after initialize() and closed at stop by the SDK. ``kv_store()`` /
    ``pubsub_broker()`` / ``registry()`` offer the pattern objects to in-process tools such as
    prism-loadtest. Readiness, health serving, in-flight tracking and the "not started" gate
    are the SDK's too.
    """

    name: ClassVar[str]
    version: ClassVar[str] = "0.0.0"
    settings_class: ClassVar[type[PluginSettings]] = PluginSettings

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "settings_class" not in vars(cls):  # one fact: the class in Plugin[MySettings]
            for base in getattr(cls, "__orig_bases__", ()):
                args = get_args(base)
                if get_origin(base) is Plugin and args and isinstance(args[0], type):
                    cls.settings_class = args[0]

    def __init__(self, settings: S) -> None:
        self.settings: S = settings
        self.health = HealthChecker(interval=settings.health_interval)
        self.log = logging.getLogger(f"prism.plugin.{self.name}")

    @abc.abstractmethod
    def servicers(self) -> Sequence[ServiceBinding]:
        """The contract services to serve (called once, before the server starts and before
        initialize(): bind to Built objects through callables)."""

    def kv_store(self) -> KeyValueStore | None:
        """The key-value store this plugin serves, for in-process tools (prism-loadtest kv)."""
        return None

    def pubsub_broker(self) -> PubSubBroker | None:
        """The pub/sub broker this plugin serves, for in-process tools (prism-loadtest pubsub)."""
        return None

    def registry(self) -> Coordinator | None:
        """The multicast registry coordinator this plugin serves (prism-loadtest register...)."""
        return None

    def classifiers(self) -> Sequence[Classifier]:
        """Backend-exception classifiers for the error interceptor (e.g. redis errors)."""
        return ()

    async def initialize(self) -> None:
        """Build the Built attributes from ``self.settings``, final now; runs once.

        A failure fails Initialize (its message names the plugin): raise InvalidArgumentError
        for a bad combination of settings. Built Resources are started after this returns.
        """

    async def start(self) -> None:
        """Start background work; contract calls are accepted once this returns."""

    async def on_drain_start(self) -> None:
        """Called as Drain begins, before waiting for in-flight calls: end long-lived calls.

        Streams that only end when the client leaves would otherwise hold the drain open for
        the whole drain_timeout. Servicers with an ``on_drain_start()`` method (such as
        ``prism.sdk.patterns.PubSubServicer``) are hooked in automatically; override this for
        long-lived work of the plugin's own.
        """

    async def drain(self) -> None:
        """Called after in-flight calls finished (or the drain timed out): quiesce."""

    async def stop(self) -> None:
        """Release what is not a built Resource (those are closed after this, by the SDK)."""

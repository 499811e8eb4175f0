"""A complete Prism plugin: an in-memory KeyValueBasic store (settings: PRISM_*)."""

from collections.abc import Mapping, Sequence

from prism.sdk.config import PluginSettings
from prism.sdk.errors import InvalidArgumentError
from prism.sdk.patterns import Entry, keyvalue_bindings
from prism.sdk.plugin import Plugin, ServiceBinding, run_plugin


class MinimalKV(Plugin[PluginSettings]):
    name = "minimal-kv"

    async def initialize(self) -> None:
        self.data: dict[tuple[str, str], Entry] = {}

    def servicers(self) -> Sequence[ServiceBinding]:
        return keyvalue_bindings(MinimalKV, lambda: self)  # validation, status codes: the SDK's

    async def set(
        self, ns: str, key: str, value: bytes, ttl: float | None, tags: Mapping[str, str]
    ) -> bool:
        if ttl is not None:
            raise InvalidArgumentError("minimal-kv does not support TTLs")
        created = (ns, key) not in self.data
        self.data[ns, key] = Entry(value, dict(tags))
        return created

    async def get(self, ns: str, key: str) -> Entry | None:
        return self.data.get((ns, key))

    async def delete(self, ns: str, key: str) -> bool:
        return self.data.pop((ns, key), None) is not None

    async def exists(self, ns: str, key: str) -> bool:
        return (ns, key) in self.data


if __name__ == "__main__":
    raise SystemExit(run_plugin(MinimalKV))

"""A complete Prism plugin in 40 lines: an in-memory KeyValueBasic store (settings: PRISM_*)."""

from prism.interfaces import keyvalue_basic_pb2 as pb
from prism.interfaces import keyvalue_basic_pb2_grpc as pb_grpc
from prism.sdk.config import PluginSettings
from prism.sdk.errors import NotFoundError
from prism.sdk.plugin import Plugin, ServiceBinding, run_plugin


class MinimalKV(pb_grpc.KeyValueBasicInterfaceServicer, Plugin[PluginSettings]):
    name, version, settings_class = "minimal-kv", "0.1.0", PluginSettings
    data: dict[tuple[str, str], pb.GetResponse]

    async def initialize(self) -> None:
        self.data = {}

    def servicers(self) -> list[ServiceBinding]:
        add = pb_grpc.add_KeyValueBasicInterfaceServicer_to_server
        return [ServiceBinding(add, self, "prism.KeyValueBasicInterface")]

    async def Set(self, req: pb.SetRequest, ctx: object) -> pb.SetResponse:  # noqa: N802
        created = (req.namespace, req.key) not in self.data
        self.data[req.namespace, req.key] = pb.GetResponse(value=req.value, tags=req.tags)
        return pb.SetResponse(created=created)

    async def Get(self, req: pb.GetRequest, ctx: object) -> pb.GetResponse:  # noqa: N802
        if (req.namespace, req.key) not in self.data:
            raise NotFoundError(f"key {req.key!r} not found")
        return self.data[req.namespace, req.key]

    async def Delete(self, req: pb.DeleteRequest, ctx: object) -> pb.DeleteResponse:  # noqa: N802
        return pb.DeleteResponse(deleted=self.data.pop((req.namespace, req.key), None) is not None)

    async def Exists(self, req: pb.ExistsRequest, ctx: object) -> pb.ExistsResponse:  # noqa: N802
        return pb.ExistsResponse(exists=(req.namespace, req.key) in self.data)


if __name__ == "__main__":
    raise SystemExit(run_plugin(MinimalKV))

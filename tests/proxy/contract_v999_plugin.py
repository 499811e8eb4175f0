"""A MemStore plugin whose SDK reports another plugin contract version (for the proxy's check).

Run by the proxy as ``python -m proxy.contract_v999_plugin``.
"""

from prism.plugins.memstore import MemStorePlugin
from prism.sdk.plugin import lifecycle, run_plugin

if __name__ == "__main__":
    lifecycle.CONTRACT_VERSION = 999  # as if built against an incompatible prism-sdk
    raise SystemExit(run_plugin(MemStorePlugin))

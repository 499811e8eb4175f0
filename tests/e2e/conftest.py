"""Fixtures: the config of a `prism up` routing a namespace to MemStore, the embedded example
plugin (the gateway and a channel to it: ``e2e.gateway_checks``).

The gateway is the real thing: ``python -m prism.cli up --config <yaml> --port 0`` in a
subprocess (``proxy.gateway.Gateway``), which launches and supervises one plugin process per
namespace. The same checks through the gateway against real backends live in each plugin's
test folder (tests/plugins/<name>/test_<name>_gateway.py), sharing ``e2e.gateway_checks``.
"""

from __future__ import annotations

import pytest

GATEWAY_CONFIG = """\
namespaces:
  mem:
    plugin: memstore
supervision:
  health_interval: 0.5s
  restart_initial_backoff: 100ms
"""


@pytest.fixture(scope="module")
def gateway_config() -> str:
    return GATEWAY_CONFIG

from __future__ import annotations

from collections.abc import Iterator

import pytest

from proxy.gateway import Gateway

ROUTING_CONFIG = """\
namespaces:
  default:
    plugin: memstore
  shared:
    plugin: memstore          # same spec as default: one shared instance
  small:
    plugin: memstore
    settings:
      max_keys: 2
supervision:
  health_interval: 0.5s
"""


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gw = Gateway(ROUTING_CONFIG, tmp_path_factory.mktemp("gateway")).start()
    try:
        yield gw
    finally:
        gw.stop()

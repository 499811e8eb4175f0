from __future__ import annotations

from collections.abc import Iterator

import pytest

from proxy.gateway import Gateway


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gw = Gateway(None, tmp_path_factory.mktemp("cli-gateway")).start()
    try:
        yield gw
    finally:
        gw.stop()

"""Resident memory and open file descriptors of the gateway and its plugin processes."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import psutil

__all__ = ["ProcSample", "plugin_pids", "sample", "snapshot"]

_PLUGIN_MODULE = "prism.plugins."


@dataclass(frozen=True)
class ProcSample:
    pid: int
    rss_kb: int
    fds: int

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def sample(pid: int) -> ProcSample | None:
    """None when the process is gone."""
    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            return ProcSample(pid=pid, rss_kb=proc.memory_info().rss // 1024, fds=proc.num_fds())
    except psutil.Error:
        return None


def plugin_pids(gateway_pid: int) -> dict[str, int]:
    """Plugin name (``redis`` for ``-m prism.plugins.redis``) -> pid, of the gateway's children."""
    found = {}
    try:
        children = psutil.Process(gateway_pid).children()
    except psutil.Error:
        return {}
    for child in children:
        try:
            argv = child.cmdline()
        except psutil.Error:
            continue
        for arg in argv:
            if arg.startswith(_PLUGIN_MODULE):
                found[arg[len(_PLUGIN_MODULE) :]] = child.pid
    return found


def snapshot(gateway_pid: int) -> dict[str, ProcSample]:
    """``gateway`` and ``plugin <name>`` -> sample, for the processes alive now."""
    pids = {"gateway": gateway_pid}
    pids.update({f"plugin {name}": pid for name, pid in plugin_pids(gateway_pid).items()})
    out = {}
    for name, pid in sorted(pids.items()):
        got = sample(pid)
        if got is not None:
            out[name] = got
    return out

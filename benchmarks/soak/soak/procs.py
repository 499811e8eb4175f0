"""Resident memory and open file descriptors of the gateway and its plugin processes."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

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
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None
    rss = next((ln.split()[1] for ln in status.splitlines() if ln.startswith("VmRSS:")), "0")
    return ProcSample(pid=pid, rss_kb=int(rss), fds=fds)


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def plugin_pids(gateway_pid: int) -> dict[str, int]:
    """Plugin name (``redis`` for ``-m prism.plugins.redis``) -> pid, of the gateway's children."""
    found = {}
    for pid in _children(gateway_pid):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        for arg in argv:
            text = arg.decode(errors="replace")
            if text.startswith(_PLUGIN_MODULE):
                found[text[len(_PLUGIN_MODULE) :]] = pid
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

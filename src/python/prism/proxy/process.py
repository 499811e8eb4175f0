"""Start a plugin module as a child process the way ``run_plugin --managed`` expects.

The child runs with this interpreter (``sys.executable``) and this process's ``sys.path`` as
its PYTHONPATH, so ``python -m prism.plugins.<name>`` resolves the same code whether the proxy
runs from a venv, a source checkout or a PEX. On Linux the child gets SIGTERM if the proxy
dies (PR_SET_PDEATHSIG through ``setpriv``), so a killed proxy leaves no orphaned plugins behind.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping

LISTENING_MARK = " listening on "


@functools.cache
def _die_with_parent_prefix() -> tuple[str, ...]:
    """``setpriv --pdeathsig TERM --`` when available (Linux util-linux), else nothing.

    A wrapper rather than ``preexec_fn=prctl(...)``: preexec_fn forces fork() instead of
    vfork and runs Python in the child of a multi-threaded (gRPC) process, which can deadlock.
    The death signal survives the exec of the interpreter.
    """
    setpriv = shutil.which("setpriv")
    if setpriv is None or not sys.platform.startswith("linux"):
        return ()
    prefix = (setpriv, "--pdeathsig", "TERM", "--")
    try:
        ok = subprocess.run([*prefix, "true"], capture_output=True, timeout=5).returncode == 0
    except (OSError, subprocess.SubprocessError):
        ok = False
    return prefix if ok else ()


class PluginProcess:
    """A running plugin child: its address once listening; stdout relayed to logging.

    stderr (where plugins log) is inherited, so logs cost the proxy nothing per request.
    """

    def __init__(self, proc: asyncio.subprocess.Process, name: str) -> None:
        self.proc = proc
        self.name = name
        self._log = logging.getLogger(f"prism.proxy.plugin.{name}")
        self._pumps: list[asyncio.Task[None]] = []

    @property
    def pid(self) -> int:
        return int(self.proc.pid)

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    @classmethod
    async def spawn(
        cls,
        module: str,
        name: str,
        *,
        host: str = "127.0.0.1",
        env: Mapping[str, str] | None = None,
    ) -> PluginProcess:
        full_env = dict(os.environ)
        full_env.update(env or {})
        full_env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        full_env.setdefault("PYTHONUNBUFFERED", "1")
        # The first call probes setpriv with a subprocess: keep it off the event loop.
        prefix = await asyncio.to_thread(_die_with_parent_prefix)
        proc = await asyncio.create_subprocess_exec(
            *prefix,
            sys.executable,
            "-m",
            module,
            "--managed",
            "--host",
            host,
            "--port",
            "0",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=None,  # inherited: plugin logs go straight to ours, no relay cost
            env=full_env,
        )
        return cls(proc, name)

    async def wait_listening(self, timeout: float) -> str | None:
        """The ``host:port`` from the plugin's listening line; None if it exited first."""
        assert self.proc.stdout is not None
        stdout = self.proc.stdout

        async def read() -> str | None:
            while True:
                raw = await stdout.readline()
                if not raw:
                    return None
                line = raw.decode("utf-8", "replace").rstrip()
                self._log.info("%s", line)
                if LISTENING_MARK in line:
                    return line.rsplit(LISTENING_MARK, 1)[1].strip()

        address = await asyncio.wait_for(read(), timeout)
        if address is not None:
            self._pumps.append(asyncio.create_task(self._pump(stdout)))
        return address

    async def _pump(self, stream: asyncio.StreamReader) -> None:
        while True:
            raw = await stream.readline()
            if not raw:
                return
            self._log.info("%s", raw.decode("utf-8", "replace").rstrip())

    async def wait(self) -> int:
        """Wait for exit (and for its output to be read); returns the exit code."""
        code = await self.proc.wait()
        if self._pumps:
            await asyncio.wait(self._pumps, timeout=1.0)
        return code

    def signal(self, sig: signal.Signals) -> None:
        if self.proc.returncode is None:
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass

    async def terminate(self, timeout: float) -> int:
        """SIGTERM, then SIGKILL after ``timeout`` s; returns the exit code."""
        self.signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(asyncio.shield(self.wait()), timeout)
        except TimeoutError:
            self._log.warning("plugin %s did not exit within %.1fs: killing", self.name, timeout)
            self.signal(signal.SIGKILL)
            return await self.wait()
        finally:
            for task in self._pumps:
                task.cancel()

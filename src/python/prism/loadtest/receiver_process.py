"""The live receivers of a registry run in a child process: other clients, not the generator.

Why: read in the generator's own event loop, ~2,000 receipts/s of a mixed run queued the
operations being timed behind them. The child (``python -m prism.loadtest.receiver_process``,
this interpreter, this ``sys.path``) opens the same plugin with the same settings, so it builds
its own messaging slot on the same backends, and reads with :class:`LiveReceivers`.

Protocol, one JSON object per line. Parent -> child on stdin: the config, then ``stop`` (or
end of file: a parent that died stops the child too). Child -> parent on stdout: ``ready``
(every receiver live) or ``error``; then :meth:`Receipts.delta` every :data:`REPORT_EVERY_S`
while counts grow; and after ``stop`` a ``final`` delta with the encoded latency histogram.
A child that exits before ``final`` is an error the run reports (``error``), never a hang.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import IO, Any

from prism.loadtest.backends import open_registry
from prism.loadtest.receivers import LiveReceivers, Receipts

__all__ = ["ReceiverProcess", "main"]

REPORT_EVERY_S = 0.1
START_TIMEOUT_S = 120.0
"""For the child to start and confirm every receiver live (1,000 on a loaded box: seconds)."""
FINISH_TIMEOUT_S = 15.0
"""For the child to close its receivers and send its final counts after ``stop``."""
_LINE_LIMIT = 1 << 24  # bytes per protocol line (the final one carries the histogram)
_MODULE = "prism.loadtest.receiver_process"  # this module, run as the child


class ReceiverProcess:
    """Implements prism.loadtest.receivers.Receivers with the receivers in a child process."""

    where = "child process"

    def __init__(self, plugin: str, settings: Mapping[str, str]) -> None:
        self.plugin, self.settings = plugin, dict(settings)
        self.receipts = Receipts()
        self.count = 0
        self.error: str | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._final = asyncio.Event()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    async def start(self, namespace: str, identities: Sequence[str]) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self._proc = proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            _MODULE,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
            limit=_LINE_LIMIT,
        )
        self._reader = asyncio.ensure_future(self._read())
        config = {
            "plugin": self.plugin,
            "settings": self.settings,
            "namespace": namespace,
            "identities": list(identities),
        }
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(config).encode() + b"\n")
        with contextlib.suppress(ConnectionError):
            await proc.stdin.drain()
        ready = asyncio.ensure_future(self._ready.wait())
        await asyncio.wait(
            {ready, self._reader}, timeout=START_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
        )
        ready.cancel()
        if not self._ready.is_set():
            raise RuntimeError(
                f"receiver process: {self.error or f'not ready in {START_TIMEOUT_S:g} s'}"
            )

    async def _read(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        try:
            while line := await proc.stdout.readline():
                message: dict[str, Any] = json.loads(line)
                if "ready" in message:
                    self.count = int(message["ready"])
                    self._ready.set()
                elif "error" in message:
                    self.error = str(message["error"])
                else:
                    self.receipts.add_delta(message)
                    if "latency" in message:
                        self.receipts.latency.add_encoded(message["latency"])
                        self._final.set()
        except (ValueError, KeyError) as exc:
            self.error = f"bad line from the receiver process: {exc!r}"
        if not self._final.is_set():
            code = await proc.wait()
            self.error = self.error or f"receiver process exited with code {code} mid-run"

    async def finish(self) -> None:
        """Stop the child and take its final counts (bounded: kills a child that hangs)."""
        proc, reader = self._proc, self._reader
        if proc is None or reader is None:
            return
        if proc.returncode is None and proc.stdin is not None and not proc.stdin.is_closing():
            proc.stdin.write(b"stop\n")
            with contextlib.suppress(ConnectionError):
                await proc.stdin.drain()
            proc.stdin.close()
        await asyncio.wait({reader}, timeout=FINISH_TIMEOUT_S)
        if not reader.done():
            self.error = self.error or f"no final counts in {FINISH_TIMEOUT_S:g} s: killed"
            proc.kill()
            await reader
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(proc.wait(), FINISH_TIMEOUT_S)
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def _send(out: IO[str], message: Mapping[str, Any]) -> None:
    out.write(json.dumps(message) + "\n")
    out.flush()


async def _report(out: IO[str], receipts: Receipts) -> None:
    while True:
        await asyncio.sleep(REPORT_EVERY_S)
        delta = receipts.delta()
        if delta is not None:
            _send(out, delta)


async def _child(config: Mapping[str, Any], out: IO[str]) -> int:
    receipts = Receipts()
    async with open_registry(config["plugin"], config["settings"]) as opened:
        receivers = LiveReceivers(opened.target, receipts)  # type: ignore[arg-type]
        try:
            await receivers.start(config["namespace"], config["identities"])
        except Exception as exc:  # noqa: BLE001 - told to the parent, which fails its setup
            _send(out, {"error": f"opening receiver {receivers.count + 1}: {exc!r}"})
            await receivers.finish()
            return 1
        _send(out, {"ready": receivers.count})
        reporter = asyncio.ensure_future(_report(out, receipts))
        await asyncio.to_thread(sys.stdin.readline)  # "stop", or "" when the parent is gone
        reporter.cancel()
        await receivers.finish()
        final = receipts.delta() or {"received": {}, "duplicates": 0, "errors": 0}
        _send(out, {**final, "latency": receipts.latency.encode()})
    return 0


def main() -> int:
    """The child: protocol on the real stdout; anything else printed goes to stderr."""
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    config = json.loads(sys.stdin.readline())
    try:
        return asyncio.run(_child(config, out))
    except Exception as exc:  # noqa: BLE001 - e.g. the backend cannot be opened: say why
        _send(out, {"error": repr(exc)})
        return 1


if __name__ == "__main__":
    sys.exit(main())

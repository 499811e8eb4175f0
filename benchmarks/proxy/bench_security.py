"""Benchmark: what TLS + bearer tokens cost the gateway, vs a plain gateway, in one run.

Two ``prism up`` gateways (namespace ``default`` on MemStore) run side by side: one plain, one
with TLS and token auth (certificates and a JWT made here). ghz drives each in turn with the
same Get call, alternating plain/secured per round so machine load hits both alike:

* max throughput: ``--rps 0`` (unbounded), ``--concurrency`` workers, rps reported by ghz;
* latency at a fixed rate: ``--rps 1000``, p95 from ghz.

Prints each round and the secured/plain ratios of the medians. Needs ghz
(``tools/ghz.sh install``; found via ``--ghz`` or ``tools/ghz.sh path``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from proxy.credentials import AUDIENCE, ISSUER, CertAuthority, TokenIssuer, write
from proxy.gateway import Gateway

CALL = "prism.KeyValueBasicInterface.Exists"
DATA = '{"namespace":"default","key":"absent"}'


def _ghz_path() -> str:
    out = subprocess.run(["bash", "tools/ghz.sh", "path"], capture_output=True, text=True)
    return out.stdout.strip() or "ghz"


def _ghz(ghz: str, addr: str, extra: list[str], rps: int, seconds: float, conc: int) -> Any:
    cmd = [
        ghz,
        "--call",
        CALL,
        "--data",
        DATA,
        "--rps",
        str(rps),
        "--concurrency",
        str(conc),
        "--duration",
        f"{seconds}s",
        "--duration-stop",
        "wait",
        "--format",
        "json",
        *extra,
        addr,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    report = json.loads(out.stdout)
    p95 = next(d["latency"] for d in report["latencyDistribution"] if d["percentage"] == 95)
    return report["rps"], p95 / 1e6, report.get("statusCodeDistribution", {})


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ghz", default=None)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--concurrency", type=int, default=50)
    args = ap.parse_args()
    ghz = args.ghz or _ghz_path()
    os.environ["PRISM_MEMSTORE_LOG_LEVEL"] = "WARNING"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        plain_dir, secure_dir = work / "plain", work / "secure"
        plain_dir.mkdir()
        secure_dir.mkdir()
        ca = CertAuthority.create("bench-ca")
        cert, key = ca.issue("gateway", server=True)
        write(secure_dir / "server.pem", cert)
        write(secure_dir / "server.key", key)
        cacert = write(work / "ca.pem", ca.pem)
        issuer = TokenIssuer()
        write(secure_dir / "jwks.json", issuer.jwks())
        token = issuer.token("bench", exp=2**31 - 1)
        secured_config = f"""\
namespaces: {{default: {{plugin: memstore}}}}
tls: {{cert: server.pem, key: server.key}}
auth:
  tokens: {{audience: {AUDIENCE}, issuer: "{ISSUER}", jwks: jwks.json}}
  grants: [{{identities: ["token:bench"], namespaces: [default], allow: [read]}}]
"""
        plain = Gateway(None, plain_dir).start()
        secured = Gateway(secured_config, secure_dir).start()
        modes = {
            "plain": (plain.addr, ["--insecure"]),
            "tls+token": (
                secured.addr,
                [
                    "--cacert",
                    str(cacert),
                    "--metadata",
                    json.dumps({"authorization": f"Bearer {token}"}),
                ],
            ),
        }
        results: dict[str, dict[str, list[float]]] = {m: {"max": [], "p95": []} for m in modes}
        try:
            for r in range(args.rounds):
                for mode, (addr, extra) in modes.items():
                    rps, _, codes = _ghz(ghz, addr, extra, 0, args.seconds, args.concurrency)
                    _, p95, codes2 = _ghz(ghz, addr, extra, 1000, args.seconds, args.concurrency)
                    results[mode]["max"].append(rps)
                    results[mode]["p95"].append(p95)
                    print(
                        f"round {r + 1} {mode:9s} max {rps:8.0f} rps   p95@1000rps "
                        f"{p95:7.2f} ms   codes {codes} {codes2}",
                        flush=True,
                    )
        finally:
            plain.stop()
            secured.stop()
    med = {m: {k: statistics.median(v) for k, v in d.items()} for m, d in results.items()}
    for m, d in med.items():
        print(f"median {m:9s} max {d['max']:8.0f} rps   p95@1000rps {d['p95']:7.2f} ms")
    p, s = med["plain"], med["tls+token"]
    print(
        f"tls+token / plain: max rps x{s['max'] / p['max']:.2f} "
        f"({(1 - s['max'] / p['max']) * 100:.1f}% lost), p95 x{s['p95'] / p['p95']:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Our emulator vs serverless-offline@13, same handlers, same load tester, one run.

    python -m bench.peer [--duration 15] [--skip-none-check]

Both run the project's serverless.yml against their own embedded DynamoDB (moto's
server, `infra.dynamo`), both stay up for the whole run, and the loads alternate
between them (ours, peer, ours, peer) so machine noise hits both alike.

1. serverless-offline with the handlers exactly as they are: one connection attempt.
2. serverless-offline with a shim that only adds the `identity.sourceIp` it drops (see
   `bench.peer.offline.SHIM`), since without it nothing connects; then for each:
   - `python -m client.loadtest` at two loads: deliveries/s, delivery latency p50/p99,
     lost deliveries and errors;
   - connect rate: connections opened from client processes, authorizer + $connect;
   - correctness probes (`bench.peer.checks`): a stale member, a clean close, GET
     @connections of an unknown id, and (on the repo's echo service) a handler that
     returns None.
Prints every figure and the ratios ours / peer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from websockets.exceptions import InvalidHandshake

from bench.harness import ROOT, running_harness
from bench.machine import describe
from bench.peer import checks
from bench.peer.offline import running_offline
from bench.procs import cmdline, descendants, rss_bytes
from bench.scale import drop_clients, open_from_clients, summarize
from client.tokens import SECRET_ENV, local_secret
from infra.config import load_service
from infra.dynamo import provision, start_moto

ECHO = ROOT / "tests" / "echo_service" / "serverless.yml"
LOADS = (
    # connections, rooms, messages/s: 10 and 20 members per room; 100 to 400 deliveries/s
    (50, 5, 10.0),
    (50, 5, 20.0),
    (100, 5, 20.0),
)
# serverless-offline starts a Python process per concurrent invocation and never stops
# them; past this many, a load is cut short (the machine is shared).
MAX_PROCESSES = 150


@dataclass(frozen=True)
class Target:
    name: str
    ws_url: str
    mgmt_url: str
    dynamodb_endpoint: str
    secret: str
    pid: int  # the emulator's own process; its descendants are its Lambda processes


@contextlib.asynccontextmanager
async def peer_stack(shim: bool, log: Path) -> AsyncIterator[Target]:
    """serverless-offline on the project's serverless.yml with its own embedded moto."""
    moto = await start_moto()
    try:
        secret = local_secret()
        spec = load_service(ROOT / "serverless.yml", "dev", parameter_values={SECRET_ENV: secret})
        await asyncio.to_thread(
            provision, spec, dynamodb_endpoint=moto.endpoint, ssm_endpoint=moto.endpoint
        )
        env = {
            "AWS_ENDPOINT_URL_DYNAMODB": moto.endpoint,
            "AWS_ENDPOINT_URL_SSM": moto.endpoint,
            "AWS_REGION": spec.region,
            "POWERTOOLS_LOG_LEVEL": "WARNING",
        }
        async with running_offline(ROOT / "serverless.yml", env, shim=shim, log=log) as off:
            yield Target(
                f"serverless-offline {off.version}" + (" + shim" if shim else ""),
                off.ws_url,
                off.mgmt_url,
                moto.endpoint,
                secret,
                off.pid,
            )
    finally:
        await moto.close()


async def loadtest(t: Target, connections: int, rooms: int, rate: float, secs: float) -> Any:
    """client.loadtest against `t`, watching how many processes and how much memory the
    emulator uses meanwhile (and cutting the load short past MAX_PROCESSES)."""
    peak = {"processes": 0, "rss_mib": 0.0}
    proc: asyncio.subprocess.Process | None = None

    async def watch() -> None:
        while True:
            # Ours: gateway + sandboxes, not its moto (the peer's moto is not its child).
            pids = [p for p in [t.pid, *descendants(t.pid)] if "infra.dynamo" not in cmdline(p)]
            peak["processes"] = max(peak["processes"], len(pids))
            peak["rss_mib"] = max(peak["rss_mib"], sum(rss_bytes(p) for p in pids) / 2**20)
            if len(pids) > MAX_PROCESSES and proc is not None and proc.returncode is None:
                peak["cut_short"] = True
                proc.terminate()
            await asyncio.sleep(0.5)  # sampling

    watcher = asyncio.create_task(watch())
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        cmd = [
            sys.executable,
            "-m",
            "client.loadtest",
            "--url",
            t.ws_url,
            "--connections",
            str(connections),
            "--rooms",
            str(rooms),
            "--rate",
            str(rate),
            "--duration",
            str(secs),
            "--ramp",
            "50",
            "--drain",
            "15",
            "--open-timeout",
            "30",
            "--secret",
            t.secret,
            "--json",
            out.name,
            "--quiet",
        ]
        proc = await asyncio.create_subprocess_exec(
            *cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        await proc.wait()
        watcher.cancel()
        text = await asyncio.to_thread(Path(out.name).read_text)
    result: dict[str, Any] = (
        json.loads(text) if text.strip() else {"ok": False, "error": "no result"}
    )
    result["emulator"] = peak
    return result


async def connect_rate(t: Target, total: int) -> dict[str, Any]:
    # 10 handshakes in flight: serverless-offline starts one Python process per
    # concurrent invocation, so more would mostly measure process spawning and RAM.
    procs, reports = await open_from_clients(t.ws_url, t.secret, total, 2, 5, deadline_s=90)
    await drop_clients(procs)
    return summarize(reports, {}, 1.0)


async def probes(t: Target) -> dict[str, Any]:
    out: dict[str, Any] = {}
    ws_probes = {
        "stale member": checks.stale_member,
        "clean close": checks.clean_close_leaves_room,
    }
    for name, probe in ws_probes.items():
        try:
            out[name] = await probe(t.ws_url, t.secret, t.dynamodb_endpoint)
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            out[name] = {"ok": False, "outcome": f"could not connect: {exc}"}
    out["GET unknown id"] = await asyncio.to_thread(checks.unknown_id_get, t.mgmt_url)
    return out


async def none_checks(log: Path) -> dict[str, Any]:
    """The echo service's None-returning route under both."""
    results: dict[str, Any] = {}
    async with running_harness("--service", str(ECHO)) as h:
        results["ours"] = await checks.none_result(h.ws_url)
    async with running_offline(ECHO, {}, log=log) as off:
        results["peer"] = await checks.none_result(off.ws_url)
    return results


async def run(args: argparse.Namespace) -> dict[str, Any]:
    logs = Path(tempfile.mkdtemp(prefix="wschat-peer-"))
    result: dict[str, Any] = {"logs": str(logs)}
    print(f"logs in {logs}", file=sys.stderr)
    async with peer_stack(shim=False, log=logs / "offline-plain.log") as plain:
        result["unmodified"] = await checks.first_connect(plain.ws_url, plain.secret)
    print(f"unmodified handlers: {result['unmodified']}", file=sys.stderr)
    async with (
        running_harness(log=logs / "ours.log") as h,
        peer_stack(shim=True, log=logs / "offline-shim.log") as peer,
    ):
        ours = Target(
            "ours (python -m infra)", h.ws_url, h.mgmt_url, h.dynamodb_endpoint, h.secret, h.pid
        )
        targets = {"ours": ours, "peer": peer}
        result["names"] = {k: t.name for k, t in targets.items()}
        for t in targets.values():  # warm both: first invocations start processes
            await loadtest(t, 10, 1, 5, 3)
        result["load"] = []
        for connections, rooms, rate in LOADS:
            row: dict[str, Any] = {"connections": connections, "rooms": rooms, "rate": rate}
            for k, t in targets.items():
                print(f"load {connections}/{rooms}/{rate:g} on {k}", file=sys.stderr)
                row[k] = await loadtest(t, connections, rooms, rate, args.duration)
            result["load"].append(row)
            if args.json:
                args.json.write_text(json.dumps(result, indent=2) + "\n")
        result["connect"] = {}
        for k, t in targets.items():
            print(f"connect rate on {k}", file=sys.stderr)
            result["connect"][k] = await connect_rate(t, args.connect)
        if args.json:
            args.json.write_text(json.dumps(result, indent=2) + "\n")
        result["probes"] = {}
        for k, t in targets.items():
            result["probes"][k] = await probes(t)
    if not args.skip_none_check:
        result["none"] = await none_checks(logs / "offline-echo.log")
    return result


def _ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "n/a"
    return f"{a / b:.1f}x"


def report(r: dict[str, Any]) -> str:
    lines = [
        f"serverless-offline with the handlers unmodified: first connection -> "
        f"{r['unmodified']['outcome']} after {r['unmodified']['s']:.1f} s",
        f"ours = {r['names']['ours']}; peer = {r['names']['peer']}",
        "",
        f"{'load (conns/rooms/msg/s)':26} {'':6} {'deliv/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'lost':>6} {'errors'}",
    ]
    for row in r["load"]:
        label = f"{row['connections']}/{row['rooms']}/{row['rate']:g}"
        for k in ("ours", "peer"):
            x = row[k]
            lat = x.get("latency_ms", {})
            lines.append(
                f"{label:26} {k:6} {x.get('throughput_per_s', 0):8.1f} "
                f"{lat.get('p50') or float('nan'):8.1f} {lat.get('p99') or float('nan'):8.1f} "
                f"{x.get('lost', '?'):>6} {x.get('errors') or 'none'}"
            )
            em = x.get("emulator", {})
            lines.append(
                f"{'':26} {'':6} emulator peak: {em.get('processes')} processes, "
                f"{em.get('rss_mib', 0):.0f} MiB RSS"
                + ("; CUT SHORT (too many processes)" if em.get("cut_short") else "")
            )
        o, p = row["ours"], row["peer"]
        throughput = _ratio(o.get("throughput_per_s"), p.get("throughput_per_s"))
        p99 = _ratio(o.get("latency_ms", {}).get("p99"), p.get("latency_ms", {}).get("p99"))
        lines.append(f"{'':26} ratio  throughput ours/peer {throughput}, p99 ours/peer {p99}")
    lines.append("")
    for k in ("ours", "peer"):
        c = r["connect"][k]
        lines.append(
            f"connect rate {k:5} {c['per_s']:7.1f}/s ({c['opened']} opened, errors "
            f"{c['errors'] or 'none'}; handshake p50 {c['handshake_ms'].get('p50')} ms, "
            f"p99 {c['handshake_ms'].get('p99')} ms)"
        )
    rates = r["connect"]["ours"]["per_s"], r["connect"]["peer"]["per_s"]
    lines.append(f"connect rate ratio ours/peer {_ratio(*rates)}")
    lines.append("")
    for name in r["probes"]["ours"]:
        for k in ("ours", "peer"):
            p = r["probes"][k][name]
            lines.append(f"{name:16} {k:5} {'OK  ' if p['ok'] else 'FAIL'} {p['outcome']}")
    for k, p in r.get("none", {}).items():
        lines.append(f"{'None result':16} {k:5} {'OK  ' if p['ok'] else 'FAIL'} {p['outcome']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.peer", description=__doc__.split("\n")[0])
    p.add_argument("--duration", type=float, default=15.0, help="seconds of sending per load")
    p.add_argument("--connect", type=int, default=200, help="connections for the connect rate")
    p.add_argument("--skip-none-check", action="store_true")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    result = asyncio.run(run(args))
    print(describe())
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

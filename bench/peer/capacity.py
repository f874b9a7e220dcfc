"""The capacity ladder's verdicts and report: which loads each emulator sustains.

Pure functions over `client.loadtest` results (plus the `emulator` peak the bench adds),
so the rules that decide "sustained" live in one place, apart from running the loads.
"""

from __future__ import annotations

import re
from typing import Any

# serverless-offline starts a Python process per concurrent invocation and keeps it
# until it has been idle for 60 s; past this many, a load is cut short (the machine is
# shared: without a limit it once went past 900) and the step fails.
MAX_PROCESSES = 150
# Share of the offered deliveries/s a step must deliver to count as sustained.
SUSTAINED_SHARE = 0.95
SIDES = ("ours", "peer")


def offered_per_s(rate: float, connections: int, rooms: int) -> float:
    """Deliveries/s a load asks for: each message goes to every member of its room, the
    sender included (`client.loadtest.tally`), and rooms are equal (connections % rooms
    == 0, checked by the command line)."""
    return rate * connections / rooms


def tail_s(r: dict[str, Any]) -> float | None:
    """Seconds from the last send to the last delivery.

    `throughput_per_s` is deliveries over first send to last delivery, so this tail is
    what pulls it under the offered load when nothing is lost: with 15 s of sending,
    95 % leaves the last delivery about 0.8 s after the last send. (The last send is
    one interval before the end of the send phase, which is why a short tail gives a
    little over 100 %.)
    """
    thr, delivered = r.get("throughput_per_s"), r.get("delivered")
    if not thr or not delivered:
        return None
    last_send = r["phases_s"]["send"] - 1 / r["config"]["rate"]
    return float(delivered / thr - last_send)


def failures(r: dict[str, Any], offered: float) -> list[str]:
    """Why a step was not sustained (empty: it was)."""
    reasons: list[str] = []
    em = r.get("emulator", {})
    if em.get("cut_short"):
        reasons.append(
            f"cut short: > {MAX_PROCESSES} processes ({em.get('processes_at_start')} at its start)"
        )
    if "throughput_per_s" not in r:
        # A cut-short load test is terminated before it writes its result.
        return reasons or [str(r.get("error", "no result"))]
    if r["lost"]:
        reasons.append(f"lost {r['lost']} of {r['expected_deliveries']}")
    if r["duplicates"]:
        reasons.append(f"{r['duplicates']} duplicates")
    if r.get("misrouted"):
        reasons.append(f"{r['misrouted']} misrouted")
    failed = r["connections"]["failed"]
    if failed:
        total = failed + r["connections"]["open"]
        reasons.append(f"{failed} of {total} connections failed")
    if r["errors"]:
        reasons.append("errors " + ", ".join(f"{k} x{v}" for k, v in r["errors"].items()))
    if r.get("close_codes"):
        codes = ", ".join(f"{k} x{v}" for k, v in r["close_codes"].items())
        reasons.append(f"connections closed by the emulator ({codes})")
    share = r["throughput_per_s"] / offered
    if share < SUSTAINED_SHARE:
        reasons.append(f"delivered {100 * share:.0f}% of the offered load")
    return reasons


def summarize(steps: list[dict[str, Any]]) -> dict[str, Any]:
    """Per side its capacity; then the ratio and the p99s at the peer's best step."""
    out: dict[str, Any] = {}
    best: dict[str, dict[str, Any] | None] = {}
    for k in SIDES:
        ran = [s for s in steps if s.get(k) is not None]
        ok = [s for s in ran if s[k]["sustained"]]
        best[k] = b = max(ok, key=lambda s: (s[k]["throughput_per_s"], s["rate"]), default=None)
        failed = next((s for s in ran if not s[k]["sustained"]), None)
        out[k] = {
            "capacity_per_s": b[k]["throughput_per_s"] if b else None,
            "rate": b["rate"] if b else None,
            "p99_ms": b[k]["latency_ms"].get("p99") if b else None,
            "failed_at_rate": failed["rate"] if failed else None,
            "failed_because": failed[k]["failed_because"] if failed else [],
            # Never failed: the ladder ended first, so the capacity is only a lower bound.
            "lower_bound": failed is None,
        }
    ours, peer = out["ours"]["capacity_per_s"], out["peer"]["capacity_per_s"]
    out["ratio"] = ours / peer if ours and peer else None
    pb = best["peer"]
    if pb is not None:
        o = pb.get("ours")
        out["p99_at_peer_best"] = {
            "rate": pb["rate"],
            "ours_sustained": bool(o and o["sustained"]),
            "ours_ms": o["latency_ms"].get("p99") if o else None,
            "peer_ms": pb["peer"]["latency_ms"].get("p99"),
        }
    return out


def _num(x: Any, fmt: str) -> str:
    """`x` formatted, or "-" as wide (the width leads `fmt`) so the columns stay aligned."""
    if x is None:
        width = re.match(r"\d*", fmt)
        return "-".rjust(int(width.group() or 0) if width else 0)
    return format(x, fmt)


def report(c: dict[str, Any]) -> list[str]:
    cfg = c["config"]
    lines = [
        f"capacity: {cfg['connections']} connections in {cfg['rooms']} rooms "
        f"({cfg['connections'] // cfg['rooms']} members each), {cfg['duration_s']:g} s of "
        f"sending per step, loads alternating ours / peer",
        f"sustained = lost 0, no duplicates, no connection errors, not cut short "
        f"(> {MAX_PROCESSES} processes), delivered/s >= {100 * SUSTAINED_SHARE:.0f}% of offered",
        "",
        f"{'msg/s':>5} {'offered/s':>9} {'side':4} {'deliv/s':>8} {'%':>4} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'tail s':>6} {'lost':>5} {'procs':>5} {'RSS MiB':>7}  verdict",
    ]
    for s in c["steps"]:
        for k in SIDES:
            r = s.get(k)
            head = f"{s['rate']:5g} {s['offered_per_s']:9.0f} {k:4}"
            if r is None:
                lines.append(f"{head} not run (failed a lower step)")
                continue
            lat = r.get("latency_ms", {})
            thr = r.get("throughput_per_s")
            em = r.get("emulator", {})
            verdict = "sustained" if r["sustained"] else "FAILED: " + "; ".join(r["failed_because"])
            lines.append(
                f"{head} {_num(thr, '8.1f')} "
                f"{_num(thr and 100 * thr / s['offered_per_s'], '4.0f')} "
                f"{_num(lat.get('p50'), '7.0f')} {_num(lat.get('p99'), '7.0f')} "
                f"{_num(tail_s(r), '6.2f')} {_num(r.get('lost'), '5d')} "
                f"{em.get('processes', 0):5d} {em.get('rss_mib', 0):7.0f}  {verdict}"
            )
    sm = c["summary"]
    lines.append("")
    for k in SIDES:
        x = sm[k]
        if x["capacity_per_s"] is None:
            lines.append(f"capacity {k}: none (failed the first step: {x['failed_because']})")
            continue
        end = (
            "never failed: the ladder's top, so at least this"
            if x["lower_bound"]
            else f"failed at {x['failed_at_rate']:g} msg/s: {'; '.join(x['failed_because'])}"
        )
        lines.append(
            f"capacity {k}: {x['capacity_per_s']:.1f} deliveries/s at {x['rate']:g} msg/s, "
            f"p99 {_num(x['p99_ms'], '.0f')} ms ({end})"
        )
    ratio = sm["ratio"]
    qualifier = {
        (True, True): " (neither failed within the ladder: no capacity ratio yet)",
        (True, False): " (a lower bound: ours never failed)",
        (False, True): " (an upper bound: the peer never failed)",
        (False, False): "",
    }[sm["ours"]["lower_bound"], sm["peer"]["lower_bound"]]
    lines.append(
        "capacity ratio ours/peer: "
        + (f"{ratio:.1f}x{qualifier}" if ratio else "n/a (a side sustained no step)")
    )
    p = sm.get("p99_at_peer_best")
    if p:
        o_ms, p_ms = p["ours_ms"], p["peer_ms"]
        cmp = f"peer/ours {p_ms / o_ms:.1f}x" if o_ms and p_ms else "n/a"
        note = "" if p["ours_sustained"] else " (ours did not sustain that step)"
        lines.append(
            f"p99 at the peer's highest sustained step ({p['rate']:g} msg/s): ours "
            f"{_num(o_ms, '.0f')} ms, peer {_num(p_ms, '.0f')} ms ({cmp}){note}"
        )
        met = bool(ratio and ratio >= 3 and o_ms and p_ms and o_ms < p_ms)
        verdict = (
            "met"
            if met
            # Ours' capacity is then a lower bound: a longer ladder may still show it.
            else "not shown within this ladder (ours never failed)"
            if sm["ours"]["lower_bound"]
            else "NOT met"
        )
        lines.append(f"target (>= 3x the peer's throughput at a lower p99): {verdict}")
    return lines

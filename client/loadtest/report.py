"""The load run's results: one dict (written as JSON) and the text printed at the end."""

from __future__ import annotations

from typing import Any

from client.loadtest.config import LoadConfig
from client.loadtest.cost import estimate
from client.loadtest.run import LoadRun
from client.loadtest.stats import summary


def results(run: LoadRun, cpu_s: float) -> dict[str, Any]:
    cfg, tally, t = run.cfg, run.tally, run.t
    lost, dup = tally.lost(), tally.duplicates
    opened = sum(1 for c in run.conns if c.join_ok)  # open and joined its room
    # Deliveries per second from the first send to the last delivery.
    last = max(tally.received_at) if tally.received_at else t.send_end
    span = max(last - t.send_start, 1e-9)
    send_span = max(t.send_end - t.send_start, 1e-9)
    steady = max(t.drained - t.send_start, 1e-9)
    # Month projection: the message rate of the sending phase (sends, acks, fan-out).
    cost = estimate(
        run.metered,
        run.connection_minutes(),
        messages_per_s=run.metered_in_send_phase / steady,
        connections=opened,
    )
    wall = max(t.end - t.start, 1e-9)
    return {
        "ok": lost == 0 and dup == 0 and tally.misrouted == 0 and opened > 0,
        "config": {
            "url": cfg.url.split("?")[0],
            "connections": cfg.connections,
            "rooms": cfg.rooms,
            "rate": cfg.rate,
            "duration_s": cfg.duration_s,
            "ramp": cfg.ramp,
            "payload": cfg.payload,
        },
        "connections": {"open": opened, "failed": run.failed},
        "sent": tally.sent_total,
        "expected_deliveries": tally.expected(),
        "delivered": tally.delivered,
        "lost": lost,
        "duplicates": dup,
        "misrouted": tally.misrouted,
        "errors": dict(sorted(tally.errors.items())),
        "rate_limited": tally.errors.get("rate_limited", 0),
        "close_codes": {str(k): v for k, v in sorted(run.close_codes.items())},
        "connect_ms": summary(run.connect_ms),
        "latency_ms": summary(tally.latency_ms),
        "throughput_per_s": round(tally.delivered / span, 1),
        "sent_per_s": round(tally.sent_total / send_span, 1),
        "cost_usd": cost.as_json(),
        "cpu": {
            "seconds": round(cpu_s, 2),
            "percent_of_one_core": round(100 * cpu_s / wall, 1),
            # While sending and draining: the share that says whether the tester kept up.
            "sending_percent_of_one_core": round(
                100 * (t.cpu_drained - t.cpu_send_start) / steady, 1
            ),
        },
        "phases_s": {
            "ramp": round(t.connected - t.start, 3),
            "send": round(t.send_end - t.send_start, 3),
            "drain": round(t.drained - t.send_end, 3),
            "close": round(t.end - t.drained, 3),
        },
    }


def _ms(s: dict[str, float | None]) -> str:
    if s["p50"] is None:
        return "n/a"
    return f"p50 {s['p50']:.1f}  p95 {s['p95']:.1f}  p99 {s['p99']:.1f}  max {s['max']:.1f} ms"


def text(r: dict[str, Any], cfg: LoadConfig) -> str:
    errors = ", ".join(f"{k} {v}" for k, v in r["errors"].items()) or "none"
    closes = ", ".join(f"{k} x{v}" for k, v in r["close_codes"].items()) or "none"
    cost = r["cost_usd"]
    cpu = r["cpu"]
    lines = [
        f"connections   {r['connections']['open']} open, {r['connections']['failed']} failed "
        f"(of {cfg.connections}, {cfg.rooms} rooms)",
        f"connect       {_ms(r['connect_ms'])}",
        f"delivery      {_ms(r['latency_ms'])}",
        f"throughput    {r['throughput_per_s']:.1f} deliveries/s; sent {r['sent_per_s']:.1f} msg/s",
        f"sent          {r['sent']}",
        f"expected      {r['expected_deliveries']} deliveries",
        f"delivered     {r['delivered']}",
        f"lost          {r['lost']}",
        f"duplicated    {r['duplicates']}"
        + (f"  misrouted {r['misrouted']}" if r["misrouted"] else ""),
        f"errors        {errors}"
        + (f"  (rate_limited {r['rate_limited']})" if r["rate_limited"] else ""),
        f"closed by service  {closes}",
        f"API Gateway   ${cost['run']:.6f} this run ({cost['messages']} messages, "
        f"{cost['connection_minutes']:.2f} connection-minutes); "
        f"${cost['per_month']:,.2f}/month at this rate with these connections open",
        f"tester CPU    {cpu['seconds']:.2f} s ({cpu['percent_of_one_core']:.0f}% of one core; "
        f"{cpu['sending_percent_of_one_core']:.0f}% while sending)",
    ]
    if cpu["sending_percent_of_one_core"] > 85:
        lines.append(
            "warning: the tester itself was near a full core; results may be limited by it"
        )
    lines.append("PASS: every message reached every member once" if r["ok"] else "FAIL")
    return "\n".join(lines)

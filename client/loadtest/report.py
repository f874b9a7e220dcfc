"""The run's results: one dict (written as JSON), the text printed at the end, and the
thresholds' verdict (the last line says which failed, and by how much).

Importing it does not import Locust (which monkey-patches the standard library for
gevent on import): only `python -m client.loadtest` may do that, first thing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from client.loadtest.config import LoadConfig
from client.loadtest.cost import Durations, Workload, month, run_usd
from client.loadtest.tally import Verdict

if TYPE_CHECKING:
    from locust.stats import StatsEntry

    from client.loadtest.run import LoadRun

REQUESTS = ("connect", "join", "send", "history", "leave", "reconnect", "catch-up")


def _summary(e: StatsEntry) -> dict[str, float | None]:
    if not e.num_requests:
        return {"p50": None, "p95": None, "p99": None, "max": None}
    top = round(float(e.max_response_time), 1)
    # Locust keeps response times in buckets of 2-3 significant digits; a bucket's value
    # can lie above the largest sample, which is kept exactly.
    return {
        "p50": min(float(e.get_response_time_percentile(0.5)), top),
        "p95": min(float(e.get_response_time_percentile(0.95)), top),
        "p99": min(float(e.get_response_time_percentile(0.99)), top),
        "max": top,
    }


def results(run: LoadRun, v: Verdict) -> dict[str, Any]:
    cfg, tally, t, stats = run.cfg, run.tally, run.t, run.env.stats
    deliver = stats.get("deliver", "WS")
    requests: dict[str, dict[str, Any]] = {
        name: {
            "count": e.num_requests,
            "failures": e.num_failures,
            "ms": _summary(e),
        }
        for name in REQUESTS
        if (e := stats.get(name, "WS")).num_requests
    }
    n_req = sum(r["count"] for r in requests.values())
    n_fail = sum(r["failures"] for r in requests.values())
    errors = tally.all_errors()
    send_span = max(t.send_end - t.start, 1e-9)
    connection_minutes = sum(tally.connection_s.values()) / 60
    metered = tally.total("metered_in") + tally.total("metered_out")
    missing = tally.missing()
    failed_connects = sum(n for k, n in errors.items() if k.startswith(("http_", "connect_")))
    bill = month(workload(run, v, requests, send_span))
    return {
        "ok": v.ok and not missing,
        "config": cfg.public(),
        "workers": sorted(tally.workers),
        "workers_missing": missing,
        "members": v.members,
        "connections": {
            "open": v.members,  # connected and joined (bench.peer reads it)
            "opened": tally.total("connect") - failed_connects,
            "failed": failed_connects,
            "peak_users": max(s.users for s in cfg.stages),
        },
        "sent": v.sent,
        "refused": v.refused,
        "expected_deliveries": v.expected,
        "delivered": v.delivered,
        "lost": v.lost,
        "lost_in_missing_workers": v.lost_in_missing,
        "duplicates": v.duplicates,
        "misrouted": v.misrouted,
        "unknown": v.unknown,
        "caught_up": v.caught_up,
        "seen_by_members": v.seen,
        "errors": dict(sorted(errors.items())),
        "rate_limited": errors.get("rate_limited", 0),
        "close_codes": dict(sorted(tally.all_close_codes().items())),
        "requests": requests,
        "request_failures": n_fail,
        "error_rate": round(n_fail / n_req, 6) if n_req else 0.0,
        "connect_ms": requests.get("connect", {}).get("ms", _summary(stats.get("connect", "WS"))),
        "latency_ms": _summary(deliver),
        "throughput_per_s": round(v.delivered / max(t.drained - t.start, 1e-9), 1),
        "sent_per_s": round(v.sent / send_span, 1),
        "cost_usd": {
            "run": round(run_usd(metered, connection_minutes), 6),
            "messages": metered,
            "connection_minutes": round(connection_minutes, 3),
            **bill.as_json(),
        },
        "cpu": {
            "seconds": round(t.cpu_drained - t.cpu_start, 2),
            "percent_of_one_core": round(
                100 * (t.cpu_drained - t.cpu_start) / max(t.drained - t.start, 1e-9), 1
            ),
            "peak_rss_mb": t.peak_rss_kb // 1024,
        },
        "phases_s": {
            "ramp": round(t.ramped - t.start, 3),
            "send": round(t.send_end - t.start, 3),
            "drain": round(t.drained - t.send_end, 3),
            "stop": round(t.end - t.drained, 3),
        },
        "notes": t.notes,
    }


def workload(run: LoadRun, v: Verdict, requests: dict[str, Any], send_span: float) -> Workload:
    """The month the bill projects: the run's peak connections and its action rates."""
    cfg = run.cfg

    def per_s(name: str) -> float:
        return float(requests.get(name, {}).get("count", 0)) / send_span

    def ms(name: str, default: float) -> float:
        p50 = requests.get(name, {}).get("ms", {}).get("p50")
        return float(p50) if p50 else float(default)

    d = Durations()
    measured = Durations(
        authorizer=cfg.lambda_ms.get("authorizer", d.authorizer),
        # Round trips measured by the run bound the invocations' durations from above.
        connect=cfg.lambda_ms.get("connect", ms("connect", d.connect)),
        disconnect=cfg.lambda_ms.get("disconnect", d.disconnect),
        message=cfg.lambda_ms.get("message", ms("send", d.message)),
        fanout=cfg.lambda_ms.get("fanout", d.fanout),
    )
    churns = run.tally.total("churn") / send_span  # not the leaves of a ramp-down
    return Workload(
        connections=max(s.users for s in cfg.stages),
        room_size=max(s.users for s in cfg.stages) / cfg.rooms,
        sends_per_s=max(0.0, (v.sent - v.refused) / send_span),
        payload_bytes=cfg.payload,
        refused_per_s=v.refused / send_span,
        history_per_s=per_s("history"),
        history_limit=cfg.history_limit,
        churns_per_s=churns,
        reconnects_per_s=per_s("reconnect"),
        memory_mb=cfg.lambda_memory_mb,
        durations=measured,
    )


# -- thresholds ------------------------------------------------------------------------


def threshold_failures(r: dict[str, Any], cfg: LoadConfig) -> list[str]:
    """One line per threshold the run is past: which, the limit, the value, by how much."""
    th, out = cfg.thresholds, []
    p99 = r["latency_ms"]["p99"]
    if th.max_p99_ms is not None:
        if p99 is None:
            out.append(f"max-p99-ms: no delivery measured (limit {th.max_p99_ms:g} ms)")
        elif p99 > th.max_p99_ms:
            out.append(
                f"max-p99-ms: delivery p99 {p99:g} ms > {th.max_p99_ms:g} ms "
                f"(by {p99 - th.max_p99_ms:g} ms, {100 * (p99 / th.max_p99_ms - 1):.0f} %)"
            )
    max_lost = th.max_lost if th.max_lost is not None else 0
    if r["lost"] > max_lost:
        out.append(
            f"max-lost: {r['lost']} deliveries lost > {max_lost} (by {r['lost'] - max_lost})"
        )
    if th.max_error_rate is not None and r["error_rate"] > th.max_error_rate:
        out.append(
            f"max-error-rate: {100 * r['error_rate']:.2f} % of requests failed > "
            f"{100 * th.max_error_rate:.2f} % (by {100 * (r['error_rate'] - th.max_error_rate):.2f}"
            " points)"
        )
    return out


def verdict_line(r: dict[str, Any], cfg: LoadConfig) -> tuple[int, str]:
    """(exit status, last line)."""
    reasons = threshold_failures(r, cfg)
    if r["workers_missing"]:
        reasons.append(
            f"workers stopped reporting: {', '.join(r['workers_missing'])} "
            f"({r['lost_in_missing_workers']} of the lost deliveries were owed to their members)"
        )
    if r["duplicates"]:
        reasons.append(f"duplicated: {r['duplicates']} deliveries arrived twice")
    if r["misrouted"]:
        reasons.append(f"misrouted: {r['misrouted']} deliveries reached a non-member")
    if not r["members"]:
        reasons.append("no member: nothing connected and joined")
    elif cfg.sends and not r["sent"]:
        reasons.append("nothing sent: no member got to send within the run")
    if not reasons:
        return 0, "PASS: every message reached every member once; all thresholds met"
    return 1, "FAIL: " + "; ".join(reasons)


# -- text ------------------------------------------------------------------------------


def _ms(s: dict[str, float | None]) -> str:
    if s["p50"] is None:
        return "n/a"
    return f"p50 {s['p50']:g}  p95 {s['p95']:g}  p99 {s['p99']:g}  max {s['max']:g} ms"


def text(r: dict[str, Any], cfg: LoadConfig) -> str:
    errors = ", ".join(f"{k} {v}" for k, v in r["errors"].items()) or "none"
    closes = ", ".join(f"{k} x{v}" for k, v in r["close_codes"].items()) or "none"
    cost, cpu = r["cost_usd"], r["cpu"]
    reqs = "  ".join(
        f"{k} {v['count']}" + (f" ({v['failures']} failed)" if v["failures"] else "")
        for k, v in r["requests"].items()
    )
    lines = [
        f"workers       {len(r['workers'])}"
        + (f"  MISSING: {', '.join(r['workers_missing'])}" if r["workers_missing"] else ""),
        f"members       {r['members']} (peak {r['connections']['peak_users']} users, "
        f"{cfg.rooms} rooms); {r['connections']['failed']} connections failed",
        f"requests      {reqs or 'none'}",
        f"connect       {_ms(r['connect_ms'])}",
        f"delivery      {_ms(r['latency_ms'])}",
        f"throughput    {r['throughput_per_s']:.1f} deliveries/s; sent {r['sent_per_s']:.1f} msg/s",
        f"sent          {r['sent']}" + (f" ({r['refused']} refused)" if r["refused"] else ""),
        f"expected      {r['expected_deliveries']} deliveries",
        f"delivered     {r['delivered']}"
        + (f" ({r['caught_up']} caught up from history)" if r["caught_up"] else ""),
        f"lost          {r['lost']}",
        f"duplicated    {r['duplicates']}"
        + (f"  misrouted {r['misrouted']}" if r["misrouted"] else "")
        + (f"  unknown {r['unknown']}" if r["unknown"] else ""),
        f"errors        {errors}"
        + (f"  (rate_limited {r['rate_limited']})" if r["rate_limited"] else ""),
        f"closed by service  {closes}",
        f"this run      ${cost['run']:.6f} on API Gateway ({cost['messages']} messages, "
        f"{cost['connection_minutes']:.2f} connection-minutes)",
        f"per month     ${cost['per_month']:,.2f} at this rate with these connections open:",
    ]
    for line in cost["lines"]:
        lines.append(
            f"  {line['name']:<31}${line['usd']:>12,.2f}  {100 * line['share']:5.1f} %  "
            f"{line['detail']}"
        )
    lines.append(
        f"tester CPU    {cpu['seconds']:.2f} s ({cpu['percent_of_one_core']:.0f}% of one core"
        f" in this process); peak RSS {cpu['peak_rss_mb']} MB"
    )
    if cfg.mode == "local" and cpu["percent_of_one_core"] > 85:
        lines.append("warning: the tester was near a full core; run workers (--master/--worker)")
    return "\n".join(lines)

"""The load tester's command line (and the same options in a TOML file, `--config`)."""

from __future__ import annotations

import argparse
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from client import protocol, tls
from wschat_protocol import DEFAULT_RATE_LIMIT, DEFAULT_RATE_WINDOW_S

# The service's default per-connection rate limit (a deployment may set others with
# CHAT_RATE_LIMIT / CHAT_RATE_WINDOW_SECONDS): past it, sends are answered `rate_limited`.
SERVICE_RATE_LIMIT = DEFAULT_RATE_LIMIT
SERVICE_RATE_WINDOW_S = float(DEFAULT_RATE_WINDOW_S)

SCENARIO_ACTIONS = ("send", "history", "churn", "reconnect")
DEFAULT_MASTER_PORT = 5557  # Locust's


@dataclass(frozen=True)
class Stage:
    """Hold `users` connections for `duration_s`, reaching them at `spawn_rate` per second."""

    duration_s: float
    users: int
    spawn_rate: float


@dataclass(frozen=True)
class Thresholds:
    max_p99_ms: float | None = None  # delivery latency
    max_lost: int | None = None  # deliveries; the exactly-once check fails on any loss anyway
    max_error_rate: float | None = None  # failed requests / requests (connect, join, send, ...)


@dataclass(frozen=True)
class LoadConfig:
    url: str
    connections: int  # the peak of the stages
    rooms: int
    rate: float  # messages per second, all connections together, at the peak
    stages: tuple[Stage, ...]
    payload: int  # bytes of padding in each message's data
    token: str | None
    secret: str | None
    json_path: Path | None
    plot_path: Path | None
    drain_s: float  # how long to wait for the last deliveries after sending stops
    open_timeout_s: float
    progress: bool
    mix: dict[str, float] = field(default_factory=lambda: {"send": 1.0})
    think_s: float | None = None  # mean pause between a user's actions (instead of --rate)
    history_limit: int = protocol.HISTORY_DEFAULT_LIMIT
    thresholds: Thresholds = Thresholds()
    mode: str = "local"  # local | master | worker
    master_host: str = "127.0.0.1"
    master_port: int = DEFAULT_MASTER_PORT
    master_bind_host: str = "*"
    expect_workers: int = 1
    web: str | None = None  # HOST:PORT of Locust's web UI
    csv_prefix: str | None = None
    html_path: Path | None = None
    lambda_ms: dict[str, float] = field(default_factory=dict)
    lambda_memory_mb: int = 512
    ca: Path | None = None
    insecure: bool = False
    # Without --stage: sending time starts once every user has joined (or failed to), as
    # `--duration` always meant; with stages, the stages are the clock.
    after_ramp: bool = False

    @property
    def duration_s(self) -> float:
        return sum(s.duration_s for s in self.stages)

    @property
    def per_connection_rate(self) -> float:
        """Messages per second each connection sends (at the peak's total rate)."""
        return self.rate / self.connections

    @property
    def action_rate(self) -> float:
        """Actions (sends, history reads, churns, reconnects) per second per connection."""
        return self.per_connection_rate / self.mix.get("send", 0.0) if self.sends else 0.0

    @property
    def sends(self) -> bool:
        return self.mix.get("send", 0.0) > 0

    def rate_warning(self) -> str | None:
        limit = SERVICE_RATE_LIMIT / SERVICE_RATE_WINDOW_S
        per_conn = self.action_rate if self.think_s is None else 1 / self.think_s
        if per_conn <= limit:
            return None
        return (
            f"{per_conn:.1f} frames/s per connection is over the service's default limit "
            f"of {SERVICE_RATE_LIMIT} per {SERVICE_RATE_WINDOW_S:g} s: expect rate_limited "
            f"errors (use more connections or a lower --rate)"
        )

    def public(self) -> dict[str, Any]:
        """What the report repeats of the configuration (no credentials)."""
        return {
            "url": self.url.split("?")[0],
            "connections": self.connections,
            "rooms": self.rooms,
            "rate": self.rate,
            "duration_s": self.duration_s,
            "stages": [[s.duration_s, s.users, s.spawn_rate] for s in self.stages],
            "payload": self.payload,
            "mix": self.mix,
            "think_s": self.think_s,
        }


def positive_int(value: str) -> int:
    n = int(value)
    if n <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {value}")
    return n


def positive_float(value: str) -> float:
    x = float(value)
    if not x > 0:
        raise argparse.ArgumentTypeError(f"must be positive: {value}")
    return x


def seconds(value: str) -> float:
    """`90`, `90s`, `5m`, `1h`."""
    v = str(value).strip().lower()
    unit = {"s": 1, "m": 60, "h": 3600}.get(v[-1:], 0)
    x = float(v[:-1] if unit else v)
    return x * (unit or 1)


def stage(value: str) -> Stage:
    """`DURATION:USERS[:SPAWN_RATE]`, e.g. `60s:1000:50` (ramp to 1000 at 50/s, hold 60 s)."""
    parts = str(value).split(":")
    if len(parts) not in (2, 3):
        raise argparse.ArgumentTypeError(f"a stage is DURATION:USERS[:SPAWN_RATE], not {value!r}")
    try:
        duration, users = seconds(parts[0]), int(parts[1])
        rate = float(parts[2]) if len(parts) == 3 else 0.0
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"bad stage {value!r}: {exc}") from exc
    if duration <= 0 or users < 0 or rate < 0:
        raise argparse.ArgumentTypeError(f"bad stage {value!r}: negative or zero duration")
    return Stage(duration, users, rate)


def mix(value: str) -> dict[str, float]:
    """`send=90,history=5,churn=3,reconnect=2`: the share of each action per user."""
    out: dict[str, float] = {}
    for part in str(value).split(","):
        name, _, weight = part.partition("=")
        name = name.strip()
        if name not in SCENARIO_ACTIONS:
            raise argparse.ArgumentTypeError(
                f"unknown action {name!r} (one of {', '.join(SCENARIO_ACTIONS)})"
            )
        try:
            out[name] = float(weight or 1)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"bad weight in {part!r}") from exc
        if out[name] < 0:
            raise argparse.ArgumentTypeError(f"negative weight in {part!r}")
    total = sum(out.values())
    if total <= 0:
        raise argparse.ArgumentTypeError("the mix needs one action with a positive weight")
    return {k: v / total for k, v in out.items() if v > 0}


def lambda_ms(value: str) -> dict[str, float]:
    """`connect=40,message=60,disconnect=30`: billed milliseconds per invocation kind."""
    out = {}
    for part in str(value).split(","):
        k, _, v = part.partition("=")
        out[k.strip()] = positive_float(v)
    return out


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m client.loadtest",
        description="Open connections over rooms, send at a rate, and check every delivery "
        "(exactly once to every member of the room), on Locust: one process, or a master "
        "and workers on several machines.",
    )
    p.add_argument("--config", type=Path, metavar="FILE.toml", help="options from a TOML file")
    p.add_argument("--url", default="ws://127.0.0.1:8080/dev", help="WebSocket URL")
    p.add_argument(
        "--connections", type=positive_int, metavar="N", default=100, help="connections (100)"
    )
    p.add_argument(
        "--rooms", type=positive_int, metavar="R", default=10, help="rooms they spread over (10)"
    )
    p.add_argument(
        "--rate",
        type=positive_float,
        metavar="MSGS_PER_S",
        default=25.0,
        help="messages/s in total at full strength (25: what the local stack carries on 2 cores)",
    )
    p.add_argument(
        "--duration", type=positive_float, metavar="S", default=10.0, help="seconds of sending (10)"
    )
    p.add_argument(
        "--ramp",
        type=positive_float,
        metavar="CONN_PER_S",
        default=200.0,
        help="new connections/s (200)",
    )
    p.add_argument(
        "--stage",
        type=stage,
        action="append",
        metavar="DURATION:USERS[:SPAWN_RATE]",
        help="a stage of the run, repeatable: e.g. --stage 1m:1000:50 --stage 5m:1000 "
        "--stage 1m:0:50 (ramp up, hold, ramp down). Default: --connections at --ramp, "
        "then --duration seconds",
    )
    p.add_argument(
        "--mix",
        type=mix,
        default={"send": 1.0},
        metavar="ACTION=WEIGHT,...",
        help="scenario mix per user: send, history (read a page), churn (leave and "
        "rejoin), reconnect (close, reconnect, rejoin and catch up); default send=1",
    )
    p.add_argument(
        "--think",
        type=positive_float,
        metavar="S",
        help="mean think time between a user's actions (instead of pacing by --rate)",
    )
    p.add_argument(
        "--history-limit",
        type=positive_int,
        default=protocol.HISTORY_DEFAULT_LIMIT,
        metavar="L",
        help=f"history page ({protocol.HISTORY_DEFAULT_LIMIT}, at most "
        f"{protocol.HISTORY_MAX_LIMIT})",
    )
    p.add_argument(
        "--payload", type=int, metavar="BYTES", default=64, help="bytes of padding per message (64)"
    )
    auth = p.add_mutually_exclusive_group()
    auth.add_argument("--token", help="one token for every connection (for AWS)")
    auth.add_argument(
        "--secret",
        help="sign a token per connection with this secret "
        "(default: $CHAT_JWT_SECRET or the local dev secret)",
    )
    tls.add_tls_arguments(p)
    out = p.add_argument_group("output")
    out.add_argument("--json", type=Path, metavar="FILE", help="the results as JSON")
    out.add_argument(
        "--plot", type=Path, metavar="FILE.png|svg", help="latency and deliveries/s over time"
    )
    out.add_argument("--html", type=Path, metavar="FILE", help="Locust's HTML report")
    out.add_argument(
        "--csv", metavar="PREFIX", help="Locust's CSV files (PREFIX_stats.csv, _history, ...)"
    )
    out.add_argument("--quiet", action="store_true", help="no live progress line")
    p.add_argument(
        "--drain",
        metavar="S",
        type=positive_float,
        default=10.0,
        help="seconds to wait for late deliveries after sending (10)",
    )
    p.add_argument(
        "--open-timeout",
        metavar="S",
        type=positive_float,
        default=10.0,
        help="seconds for a handshake or an answer (10)",
    )
    th = p.add_argument_group("thresholds (the run fails past any of them)")
    th.add_argument("--max-p99-ms", type=positive_float, metavar="MS", help="delivery p99")
    th.add_argument("--max-lost", type=int, metavar="N", help="lost deliveries (default 0)")
    th.add_argument(
        "--max-error-rate", type=float, metavar="RATIO", help="failed requests / requests, 0..1"
    )
    dist = p.add_argument_group("distributed (Locust master and workers)")
    role = dist.add_mutually_exclusive_group()
    role.add_argument("--master", action="store_true", help="run as master; workers connect")
    role.add_argument("--worker", action="store_true", help="run as a worker of --master-host")
    dist.add_argument("--master-host", default="127.0.0.1", help="the master (for --worker)")
    dist.add_argument("--master-port", type=int, default=DEFAULT_MASTER_PORT, help="(5557)")
    dist.add_argument("--master-bind-host", default="*", help="master's interface (all)")
    dist.add_argument(
        "--expect-workers", type=positive_int, default=1, metavar="N", help="wait for N (1)"
    )
    dist.add_argument(
        "--web",
        nargs="?",
        const="127.0.0.1:8089",
        metavar="HOST:PORT",
        help="serve Locust's web UI with live charts (default 127.0.0.1:8089)",
    )
    cost = p.add_argument_group("cost")
    cost.add_argument(
        "--lambda-ms",
        type=lambda_ms,
        default={},
        metavar="KIND=MS,...",
        help="billed ms per invocation (connect, disconnect, message, fanout); "
        "default: the run's measured round trips",
    )
    cost.add_argument("--lambda-memory", type=positive_int, default=512, metavar="MB", help="(512)")
    return p


def _from_file(p: argparse.ArgumentParser, path: Path) -> dict[str, Any]:
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        p.error(f"--config {path}: {exc}")
    known = {a.dest: a for a in p._actions}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        dest = key.replace("-", "_")
        if dest in ("stages", "stage"):
            dest, value = "stage", [stage(v) for v in value]
        elif dest not in known or dest in ("config", "help"):
            p.error(f"--config {path}: unknown option {key!r}")
        elif isinstance(value, str) and known[dest].type is not None:
            value = known[dest].type(value)  # type: ignore[misc, operator]
        out[dest] = value
    return out


def parse(argv: list[str] | None = None) -> LoadConfig:
    p = parser()
    first, _ = p.parse_known_args(argv)
    if first.config:
        p.set_defaults(**_from_file(p, first.config))
    a = p.parse_args(argv)
    if a.stage:
        stages = tuple(a.stage)
        connections = max(s.users for s in stages)
        if connections <= 0:
            p.error("--stage: at least one stage needs users")
        stages = tuple(
            Stage(s.duration_s, s.users, s.spawn_rate or max(s.users, 1)) for s in stages
        )
    else:
        connections = a.connections
        # Ramp up, then --duration seconds with everyone in (sending starts with each join).
        stages = (Stage(a.duration, connections, a.ramp),)
    if a.rooms > connections:
        p.error("--rooms cannot exceed --connections (every room needs a member)")
    if not 0 <= a.payload <= 30_000:
        p.error("--payload must be 0..30000 bytes (the service takes data up to 32 KB)")
    if a.max_error_rate is not None and not 0 <= a.max_error_rate <= 1:
        p.error("--max-error-rate is a ratio, 0..1")
    mode = "master" if a.master else "worker" if a.worker else "local"
    try:
        tls.client_ssl_context(a)  # a bad --ca is a usage error, before any connection
    except tls.TLSConfigError as exc:
        p.error(str(exc))
    return LoadConfig(
        url=a.url,
        connections=connections,
        rooms=a.rooms,
        rate=a.rate,
        stages=stages,
        payload=a.payload,
        token=a.token,
        secret=a.secret,
        json_path=a.json,
        plot_path=a.plot,
        drain_s=a.drain,
        open_timeout_s=a.open_timeout,
        progress=not a.quiet,
        mix=a.mix,
        think_s=a.think,
        history_limit=min(a.history_limit, protocol.HISTORY_MAX_LIMIT),
        thresholds=Thresholds(a.max_p99_ms, a.max_lost, a.max_error_rate),
        mode=mode,
        master_host=a.master_host,
        master_port=a.master_port,
        master_bind_host=a.master_bind_host,
        expect_workers=a.expect_workers,
        web=a.web,
        csv_prefix=a.csv,
        html_path=a.html,
        lambda_ms=a.lambda_ms,
        lambda_memory_mb=a.lambda_memory,
        ca=a.ca,
        insecure=a.insecure,
        after_ramp=not a.stage,
    )

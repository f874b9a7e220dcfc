"""The load tester's command line."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

# The service's default per-connection rate limit (serverless.yml CHAT_RATE_LIMIT /
# CHAT_RATE_WINDOW_SECONDS): past it, sends are answered with `rate_limited`.
SERVICE_RATE_LIMIT = 50
SERVICE_RATE_WINDOW_S = 10.0


@dataclass(frozen=True)
class LoadConfig:
    url: str
    connections: int
    rooms: int
    rate: float  # messages per second, all connections together
    duration_s: float
    ramp: float  # new connections per second
    payload: int  # bytes of padding in each message's data
    token: str | None
    secret: str | None
    json_path: Path | None
    plot_path: Path | None
    drain_s: float  # how long to wait for the last deliveries after sending stops
    open_timeout_s: float
    progress: bool

    @property
    def per_connection_rate(self) -> float:
        return self.rate / self.connections

    def rate_warning(self) -> str | None:
        limit = SERVICE_RATE_LIMIT / SERVICE_RATE_WINDOW_S
        if self.per_connection_rate <= limit:
            return None
        return (
            f"{self.per_connection_rate:.1f} msg/s per connection is over the service's "
            f"default limit of {SERVICE_RATE_LIMIT} per {SERVICE_RATE_WINDOW_S:g} s: expect "
            f"rate_limited errors (use more connections or a lower --rate)"
        )


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


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m client.loadtest",
        description="Open N connections over R rooms, send at a rate, and check every "
        "delivery (exactly once to every member of the room).",
    )
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
        help="messages/s in total (25: what the local stack carries on 2 cores with room to spare)",
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
        "--payload", type=int, metavar="BYTES", default=64, help="bytes of padding per message (64)"
    )
    auth = p.add_mutually_exclusive_group()
    auth.add_argument("--token", help="one token for every connection (for AWS)")
    auth.add_argument(
        "--secret",
        help="sign a token per connection with this secret "
        "(default: $CHAT_JWT_SECRET or the local dev secret)",
    )
    p.add_argument(
        "--json", type=Path, metavar="FILE", help="write the results as JSON to this file"
    )
    p.add_argument(
        "--plot", type=Path, metavar="FILE.png", help="draw latency and throughput to this PNG"
    )
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
        help="seconds for one WebSocket handshake (10)",
    )
    p.add_argument("--quiet", action="store_true", help="no live progress line")
    return p


def parse(argv: list[str] | None = None) -> LoadConfig:
    p = parser()
    a = p.parse_args(argv)
    if a.rooms > a.connections:
        p.error("--rooms cannot exceed --connections (every room needs a member)")
    if not 0 <= a.payload <= 30_000:
        p.error("--payload must be 0..30000 bytes (the service takes data up to 32 KB)")
    return LoadConfig(
        url=a.url,
        connections=a.connections,
        rooms=a.rooms,
        rate=a.rate,
        duration_s=a.duration,
        ramp=a.ramp,
        payload=a.payload,
        token=a.token,
        secret=a.secret,
        json_path=a.json,
        plot_path=a.plot,
        drain_s=a.drain,
        open_timeout_s=a.open_timeout,
        progress=not a.quiet,
    )

"""The full bill of a chat workload on AWS (us-east-1 list prices), line by line.

What a month costs at a run's rates: API Gateway WebSocket messages (both directions,
metered in 32 KB units) and connection minutes; Lambda requests and GB-seconds (the
authorizer, `$connect`, `$disconnect`, the message route, `fanout`); DynamoDB write and read
request units from the access patterns in docs/data-model.md; the keepalive pings the
clients send; and the reconnects API Gateway forces every 2 hours (each one a `$disconnect`,
`$connect`, a join with presence to the room, and a catch-up read). The worked examples in
docs/data-model.md ("Worked examples of the full bill") are printed by
`python -m client.loadtest.cost` and a test holds the two to each other.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field, replace

# API Gateway, WebSocket APIs (aws.amazon.com/api-gateway/pricing, checked 2026-11).
USD_PER_MILLION_MESSAGES = 1.00  # first 1 billion messages a month
USD_PER_MILLION_MESSAGES_OVER_1B = 0.80  # beyond the first billion
MESSAGE_TIER_1 = 1_000_000_000
USD_PER_MILLION_CONNECTION_MINUTES = 0.25
METERED_UNIT_BYTES = 32 * 1024  # a message is metered in 32 KB increments
# Lambda, x86 (aws.amazon.com/lambda/pricing, checked 2026-11).
USD_PER_MILLION_REQUESTS = 0.20
USD_PER_GB_SECOND = 0.0000166667
# DynamoDB on-demand (docs/data-model.md).
USD_PER_MILLION_WRU = 0.625
USD_PER_MILLION_RRU = 0.125

HOURS_PER_MONTH = 730  # the AWS pricing pages' month
MONTH_S = HOURS_PER_MONTH * 3600
FORCED_RECONNECT_S = 2 * 3600  # API Gateway's hard limit on a connection's life
PING_EVERY_S = 300  # the bundled clients' keepalive (inside the 10-minute idle timeout)
FANOUT_SHARD = 750  # recipients per invocation before `fanout` takes over (serverless.yml)
MEMBER_ITEM_BYTES = 150  # a membership item, as read by the members Query
ROOM_USER_ITEM_BYTES = 100  # a room-user item (`RU#{room}`), as read by members / COUNT
MESSAGE_ITEM_BYTES = 200  # a stored message, as read by history (plus its data)
KB = 1024


def metered_messages(frame_bytes: int) -> int:
    """How many billable messages one frame of `frame_bytes` is (at least one)."""
    return max(1, -(-frame_bytes // METERED_UNIT_BYTES))


def messages_usd(messages: float) -> float:
    first = min(messages, MESSAGE_TIER_1)
    rest = max(0.0, messages - MESSAGE_TIER_1)
    return first / 1e6 * USD_PER_MILLION_MESSAGES + rest / 1e6 * USD_PER_MILLION_MESSAGES_OVER_1B


def connection_usd(connection_minutes: float) -> float:
    return connection_minutes / 1e6 * USD_PER_MILLION_CONNECTION_MINUTES


@dataclass(frozen=True)
class Durations:
    """Billed milliseconds per invocation (Lambda rounds each up to the next 1 ms)."""

    authorizer: float = 5.0
    connect: float = 20.0
    disconnect: float = 30.0
    message: float = 40.0
    # A shard of 750 recipients on 512 MB: ~0.6 s (docs/deployment.md, "Fan-out").
    fanout: float = 600.0


@dataclass(frozen=True)
class Workload:
    """A month of a chat service's use: connections held, rooms, and actions per second."""

    connections: float  # open all month
    room_size: float  # members per room (N)
    sends_per_s: float = 0.0  # accepted `send`s, all rooms together
    payload_bytes: int = 64  # of each message's text/data
    client_msg_id: bool = True  # sends carry one (dedup claim in the same transaction)
    refused_per_s: float = 0.0  # sends refused (rate limit): one error frame each
    history_per_s: float = 0.0  # history pages read
    history_limit: int = 50
    churns_per_s: float = 0.0  # leave + rejoin
    reconnects_per_s: float = 0.0  # reconnect + rejoin + catch-up, beyond the forced ones
    feed: bool = False  # `feed:` rooms: no presence frames
    pings: bool = True  # clients ping every PING_EVERY_S
    memory_mb: int = 512
    durations: Durations = field(default_factory=Durations)


@dataclass
class Usage:
    """Billable quantities."""

    messages: float = 0.0  # API Gateway, metered
    invocations: float = 0.0
    gb_s: float = 0.0
    wru: float = 0.0
    rru: float = 0.0

    def add(self, other: Usage, times: float = 1.0) -> None:
        self.messages += other.messages * times
        self.invocations += other.invocations * times
        self.gb_s += other.gb_s * times
        self.wru += other.wru * times
        self.rru += other.rru * times

    def usd(self) -> float:
        return (
            messages_usd(self.messages)
            + self.invocations / 1e6 * USD_PER_MILLION_REQUESTS
            + self.gb_s * USD_PER_GB_SECOND
            + self.wru / 1e6 * USD_PER_MILLION_WRU
            + self.rru / 1e6 * USD_PER_MILLION_RRU
        )


class Patterns:
    """One occurrence of each access pattern of docs/data-model.md, in billable units."""

    def __init__(self, w: Workload) -> None:
        self.w = w
        n = max(1.0, w.room_size)
        self.n = n
        self.members_rru = math.ceil(n * MEMBER_ITEM_BYTES / (4 * KB))
        self.presence = 0.0 if w.feed else n - 1  # frames to the other members
        self.presence_rru = 0 if w.feed else self.members_rru  # presence reads the members
        # a join reads 101 room users (~3 RRU) and, past 100 users, counts them all
        self.room_users_rru = 3 + (math.ceil(n * ROOM_USER_ITEM_BYTES / (4 * KB)) if n > 100 else 0)

    def _lambda(self, u: Usage, ms: float, count: float = 1.0) -> None:
        u.invocations += count
        u.gb_s += count * math.ceil(ms) / 1000 * self.w.memory_mb / 1024

    def connect(self) -> Usage:
        u = Usage(wru=2)  # BatchWriteItem: connection + user index
        self._lambda(u, self.w.durations.authorizer)
        self._lambda(u, self.w.durations.connect)
        return u

    def disconnect(self) -> Usage:
        # DeleteItem + BatchWriteItem (user index + the membership) + UpdateItem and
        # DeleteItem of its room-user item (its last connection there) + presence.
        u = Usage(wru=1 + 2 + 1 + 1, rru=self.presence_rru, messages=self.presence)
        self._lambda(u, self.w.durations.disconnect)
        return u

    def join(self) -> Usage:
        # touch + TransactWriteItems (membership, rooms set, room user: 6 WRU) + Query the
        # last 20 messages + Query room users (+ COUNT past 100) + presence.
        rru = 1 + self.room_users_rru + self.presence_rru
        u = Usage(wru=1 + 6, rru=rru, messages=2 + self.presence)
        self._lambda(u, self.w.durations.message)
        return u

    def leave(self) -> Usage:
        # touch + TransactWriteItems (membership, rooms set) + UpdateItem and DeleteItem of
        # the room-user item (the user's last connection there) + presence.
        u = Usage(wru=1 + 4 + 1 + 1, rru=self.presence_rru, messages=2 + self.presence)
        self._lambda(u, self.w.durations.message)
        return u

    def send(self) -> Usage:
        w = self.w
        frame = metered_messages(w.payload_bytes + 200)
        item_kb = math.ceil((w.payload_bytes + MESSAGE_ITEM_BYTES) / KB)
        # touch + the message item (2 WRU per KB in a transaction, with the dedup claim)
        wru = 1 + (2 * item_kb + 2 if w.client_msg_id else item_kb)
        u = Usage(wru=wru, rru=self.members_rru, messages=frame * (1 + self.n))
        self._lambda(u, w.durations.message)
        shards = math.ceil(self.n / FANOUT_SHARD) - 1
        if shards > 0:
            self._lambda(u, w.durations.fanout, shards)
        return u

    def refused(self) -> Usage:
        u = Usage(wru=1, messages=2)  # the failed conditional touch; the error frame
        self._lambda(u, self.w.durations.message)
        return u

    def history(self, limit: int | None = None, cursor: bool = False) -> Usage:
        lim = self.w.history_limit if limit is None else limit
        size = (lim + 1) * (MESSAGE_ITEM_BYTES + self.w.payload_bytes)
        rru = math.ceil(size / (4 * KB)) + (1 if cursor else 0)  # the cursor's other side
        u = Usage(wru=1, rru=rru, messages=1 + metered_messages(size))
        self._lambda(u, self.w.durations.message)
        return u

    def ping(self) -> Usage:
        u = Usage(wru=1, messages=2)  # ping and pong
        self._lambda(u, self.w.durations.message)
        return u

    def reconnect(self) -> Usage:
        """Close, connect, rejoin and catch up (one history page forward)."""
        u = Usage()
        catch_up = self.history(100, cursor=True)
        for part in (self.disconnect(), self.connect(), self.join(), catch_up):
            u.add(part)
        return u


@dataclass(frozen=True)
class Line:
    name: str
    detail: str
    usd: float


@dataclass(frozen=True)
class Bill:
    lines: tuple[Line, ...]

    @property
    def total(self) -> float:
        return sum(line.usd for line in self.lines)

    def share(self, line: Line) -> float:
        return line.usd / self.total if self.total else 0.0

    def as_json(self) -> dict[str, object]:
        return {
            "per_month": round(self.total, 2),
            "lines": [
                {
                    "name": x.name,
                    "detail": x.detail,
                    "usd": round(x.usd, 2),
                    "share": round(self.share(x), 4),
                }
                for x in self.lines
            ],
        }

    def table(self) -> str:
        rows = ["| line | what | $/month | share |", "|---|---|---:|---:|"]
        for x in self.lines:
            rows.append(f"| {x.name} | {x.detail} | {x.usd:,.2f} | {100 * self.share(x):.1f} % |")
        rows.append(f"| **total** | | **{self.total:,.2f}** | 100 % |")
        return "\n".join(rows)


def _n(x: float) -> str:
    """1.2M, 350k, 42: quantities in the bill's details."""
    for unit, div in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= div:
            return f"{x / div:.3g}{unit}"
    return f"{x:.3g}"


def month(w: Workload) -> Bill:
    """A month of `w`, split into the lines of the bill."""
    p = Patterns(w)
    traffic = Usage()  # what the users do
    traffic.add(p.send(), w.sends_per_s * MONTH_S)
    traffic.add(p.refused(), w.refused_per_s * MONTH_S)
    traffic.add(p.history(), w.history_per_s * MONTH_S)
    churn = Usage()
    churn.add(p.leave())
    churn.add(p.join())
    traffic.add(churn, w.churns_per_s * MONTH_S)
    traffic.add(p.reconnect(), w.reconnects_per_s * MONTH_S)
    pings = Usage()
    if w.pings:
        pings.add(p.ping(), w.connections * MONTH_S / PING_EVERY_S)
    forced = Usage()
    forced.add(p.reconnect(), w.connections * MONTH_S / FORCED_RECONNECT_S)
    conn_minutes = w.connections * MONTH_S / 60
    gb = w.memory_mb / 1024
    lines = (
        Line(
            "API Gateway messages",
            f"{_n(traffic.messages)} (32 KB units, both directions)",
            messages_usd(traffic.messages),
        ),
        Line(
            "API Gateway connection minutes",
            f"{_n(conn_minutes)} ({_n(w.connections)} connections)",
            connection_usd(conn_minutes),
        ),
        Line(
            "Lambda requests",
            f"{_n(traffic.invocations)}",
            traffic.invocations / 1e6 * USD_PER_MILLION_REQUESTS,
        ),
        Line(
            "Lambda compute",
            f"{_n(traffic.gb_s)} GB-s at {gb:g} GB",
            traffic.gb_s * USD_PER_GB_SECOND,
        ),
        Line("DynamoDB writes", f"{_n(traffic.wru)} WRU", traffic.wru / 1e6 * USD_PER_MILLION_WRU),
        Line("DynamoDB reads", f"{_n(traffic.rru)} RRU", traffic.rru / 1e6 * USD_PER_MILLION_RRU),
        Line(
            "pings",
            f"{_n(pings.messages)} messages, {_n(pings.invocations)} invocations, "
            f"{_n(pings.wru)} WRU (every {PING_EVERY_S} s)",
            pings.usd(),
        ),
        Line(
            "2-hour reconnects",
            f"{_n(w.connections * MONTH_S / FORCED_RECONNECT_S)} reconnects: "
            f"{_n(forced.messages)} messages, {_n(forced.invocations)} invocations, "
            f"{_n(forced.wru)} WRU, {_n(forced.rru)} RRU",
            forced.usd(),
        ),
    )
    return Bill(lines)


def run_usd(messages: int, connection_minutes: float) -> float:
    """What a run's own API Gateway traffic cost (the run is too short for the rest to matter)."""
    return messages_usd(messages) + connection_usd(connection_minutes)


# The worked examples of docs/data-model.md.
EXAMPLES: dict[str, Workload] = {
    "A room of 100 members, one message a minute (no clientMsgId, no pings)": Workload(
        connections=100,
        room_size=100,
        sends_per_s=1 / 60,
        client_msg_id=False,
        pings=False,
    ),
    "The README's load test held for a month: 200 connections in 20 rooms, 25 msg/s": Workload(
        connections=200, room_size=10, sends_per_s=25
    ),
    "A dashboard feed of 1,000 viewers (`feed:` room), one point a second": Workload(
        connections=1000, room_size=1000, sends_per_s=1, feed=True
    ),
    "The same 1,000 viewers in an ordinary room (presence on)": Workload(
        connections=1000, room_size=1000, sends_per_s=1
    ),
}


def examples_markdown() -> str:
    out = []
    for title, w in EXAMPLES.items():
        out += [f"**{title}**", "", month(w).table(), ""]
    return "\n".join(out).rstrip() + "\n"


def with_durations(w: Workload, **ms: float) -> Workload:
    return replace(w, durations=replace(w.durations, **ms))


if __name__ == "__main__":
    sys.stdout.write(examples_markdown())

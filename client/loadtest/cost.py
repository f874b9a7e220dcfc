"""What a run would cost on Amazon API Gateway's WebSocket API (us-east-1 list prices).

API Gateway meters WebSocket *messages* in both directions (client to service and
service to client), each counted in 32 KB units, and *connection minutes*. Lambda and
DynamoDB are billed separately and are not included here.
"""

from __future__ import annotations

from dataclasses import dataclass

# us-east-1, WebSocket APIs (aws.amazon.com/api-gateway/pricing, checked 2026-11).
USD_PER_MILLION_MESSAGES = 1.00  # first 1 billion messages a month
USD_PER_MILLION_MESSAGES_OVER_1B = 0.80  # beyond the first billion
MESSAGE_TIER_1 = 1_000_000_000
USD_PER_MILLION_CONNECTION_MINUTES = 0.25
METERED_UNIT_BYTES = 32 * 1024  # a message is metered in 32 KB increments
HOURS_PER_MONTH = 730  # the AWS pricing pages' month


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
class Cost:
    messages: int  # metered messages of the run, both directions
    connection_minutes: float
    run_usd: float
    month_messages: float  # at the run's steady message rate, all month
    month_connection_minutes: float  # the run's connections held all month
    month_usd: float

    def as_json(self) -> dict[str, float]:
        return {
            "run": round(self.run_usd, 6),
            "per_month": round(self.month_usd, 2),
            "messages": self.messages,
            "connection_minutes": round(self.connection_minutes, 3),
            "month_messages": round(self.month_messages),
            "month_connection_minutes": round(self.month_connection_minutes),
        }


def estimate(
    messages: int, connection_minutes: float, messages_per_s: float, connections: int
) -> Cost:
    """The run's cost, and a month at `messages_per_s` with `connections` always open."""
    month_minutes = HOURS_PER_MONTH * 60
    month_messages = messages_per_s * month_minutes * 60
    month_conn_minutes = connections * month_minutes
    return Cost(
        messages=messages,
        connection_minutes=connection_minutes,
        run_usd=messages_usd(messages) + connection_usd(connection_minutes),
        month_messages=month_messages,
        month_connection_minutes=month_conn_minutes,
        month_usd=messages_usd(month_messages) + connection_usd(month_conn_minutes),
    )

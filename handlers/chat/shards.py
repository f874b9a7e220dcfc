"""Large rooms: their memberships spread over partitions, their fan-out over invocations.

Two limits meet in a large room. One invocation's fan-out is bound by its CPU: even the
lean sender spends ~0.25 ms of CPU per POST @connections, and a 512 MB function has about
a third of a vCPU, so a room of 1,000 members costs one invocation most of a second. And
one DynamoDB partition serves ~3,000 read units a second: a room whose members are one
partition (`R#{room}`) is read whole by every message, 100,000 members being ~7 MB, so
such a room would top out near a few messages a second.

So a room past `partition_size` connections spreads its memberships over partitions
`R#{room}`, `R#{room}#1`, ... (the one a connection joins is chosen from its id), and
each message is read and delivered partition by partition: the invocation that stores a
message reads the room's base partition `R#{room}` (which also holds the room's layout
item, so a small room's message costs the one Query it always did), delivers those
members, and hands the other partitions, as ranges, to the fan-out function; each
fan-out invocation hands on what it cannot deliver itself (a tree: 16 branches, so a
million members are three hand-offs deep) and then Queries and delivers its own
partition. A partition that grew past `CHAT_FANOUT_SHARD_SIZE` members (joins racing a
growth, or a room not spread yet) is cut further into connection-id shards as before.

A shard whose hand-off fails (throttled, no permission, network) is delivered in-line
by the caller instead: slower, never lost. Each invocation removes the connections it
finds gone. Why the layout changes the way it does (`next_extent`) and why a message
sent while it changes misses no member (`store.next_extent`, `Store.set_layout`):
docs/architecture.md, "Rooms past one partition".
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from .fanout import thread_pool

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient

# Hand-offs are started side by side: 16 partition ranges, or a long list of id shards.
HAND_OFF_THREADS = 8
# Partition ranges handed off by one invocation: a tree of 16 branches reaches 4,096
# partitions (six million members) in three hand-offs.
BRANCHES = 16


def split(connection_ids: Sequence[str], size: int) -> list[list[str]]:
    """`connection_ids` in shards of `size` (the last one may be shorter)."""
    return [list(connection_ids[i : i + size]) for i in range(0, len(connection_ids), size)]


def split_range(first: int, end: int) -> list[tuple[int, int]]:
    """Partitions [first, end) as at most BRANCHES contiguous ranges of near-equal length."""
    count = end - first
    if count <= 0:
        return []
    parts = min(BRANCHES, count)
    bounds = [first + count * i // parts for i in range(parts + 1)]
    return list(itertools.pairwise(bounds))


@dataclass(frozen=True)
class Shard:
    """A piece of one room fan-out delivered by another invocation: either these
    connections (read from the room's `partition`: where a gone one's membership is),
    or the members of the room's partitions [first, end) but `skip` (the sender, whose
    copy is its route response)."""

    room: str
    payload: str
    connection_ids: tuple[str, ...] = ()
    partition: int = 0
    partitions: tuple[int, int] | None = None
    skip: str | None = None

    def event(self, endpoint: str | None) -> dict[str, Any]:
        """What the fan-out function receives (handlers/events.py: FanOutEvent)."""
        event: dict[str, Any] = {"room": self.room, "payload": self.payload, "endpoint": endpoint}
        if self.partitions is None:
            event["connectionIds"] = list(self.connection_ids)
            if self.partition:
                event["partition"] = self.partition
        else:
            event["partitions"] = list(self.partitions)
            event["skip"] = self.skip
        return event


class HandOff(Protocol):
    def hand_off(self, shards: Sequence[Shard]) -> list[int]:
        """Start delivering each shard elsewhere; the indexes of shards that could not be."""
        ...


class LambdaHandOff:
    """Hands shards to the fan-out function with `Invoke(InvocationType="Event")`."""

    def __init__(
        self, client: Callable[[], LambdaClient], function: str, endpoint: str | None
    ) -> None:
        # A factory: creating a boto3 client costs ~60 ms (measured here), and most invocations
        # (every $connect, every small room) never hand anything off.
        self._client = client
        self._function = function
        self._endpoint = endpoint  # the Management API the shards are posted to

    def hand_off(self, shards: Sequence[Shard]) -> list[int]:
        def one(shard: Shard) -> bool:
            body = json.dumps(shard.event(self._endpoint)).encode()
            try:
                client.invoke(FunctionName=self._function, InvocationType="Event", Payload=body)
            except (ClientError, BotoCoreError):
                return False
            return True

        client = self._client()  # before the threads: boto3 creates clients unsafely
        started = list(thread_pool(HAND_OFF_THREADS).map(one, shards))
        return [i for i, ok in enumerate(started) if not ok]

"""Splitting a large room fan-out across Lambda invocations.

One invocation's fan-out is bound by its CPU, not by the network: botocore spends about
half a millisecond of CPU on each POST @connections, so a room of 1,000 members costs a
512 MB function (a third of a vCPU) seconds however many threads it uses. Past
`size` recipients the room's connection ids are cut into shards of `size`; this
invocation keeps the first and hands every other one to the fan-out function with an
asynchronous invoke, so the shards are delivered side by side in separate sandboxes.

A shard whose hand-off fails (throttled, no permission, network) is delivered in-line
by the caller instead: slower, never lost. The fan-out function removes the
connections its shard finds gone, as the caller does for its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from .fanout import thread_pool

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient

# Hand-offs are started side by side: a 10,000-member room is 39 invokes of ~20 ms each.
HAND_OFF_THREADS = 8


class HandOff(Protocol):
    def hand_off(self, room: str, shards: Sequence[Sequence[str]], payload: str) -> list[int]:
        """Start delivering each shard elsewhere; the indexes of shards that could not be."""
        ...


def split(connection_ids: Sequence[str], size: int) -> list[list[str]]:
    """`connection_ids` in shards of `size` (the last one may be shorter)."""
    return [list(connection_ids[i : i + size]) for i in range(0, len(connection_ids), size)]


def shard_event(
    room: str, connection_ids: Sequence[str], payload: str, endpoint: str | None
) -> dict[str, Any]:
    """What the fan-out function receives (handlers/events.py: FanOutEvent)."""
    return {
        "room": room,
        "payload": payload,
        "connectionIds": list(connection_ids),
        "endpoint": endpoint,
    }


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

    def hand_off(self, room: str, shards: Sequence[Sequence[str]], payload: str) -> list[int]:
        def one(shard: Sequence[str]) -> bool:
            body = json.dumps(shard_event(room, shard, payload, self._endpoint)).encode()
            try:
                client.invoke(FunctionName=self._function, InvocationType="Event", Payload=body)
            except (ClientError, BotoCoreError):
                return False
            return True

        client = self._client()  # before the threads: boto3 creates clients unsafely
        started = list(thread_pool(HAND_OFF_THREADS).map(one, shards))
        return [i for i, ok in enumerate(started) if not ok]

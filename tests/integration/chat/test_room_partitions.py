"""A room spread over several membership partitions, end to end: the message function
reads the room's base partition and hands the others, as ranges, to the fan-out function
through boto3's `lambda` client and the local Invoke API; each fan-out invocation reads
and delivers its own partition. CHAT_ROOM_PARTITION_SIZE is tiny here, so a few dozen
members make several partitions."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from infra.dynamodb import dynamodb_client
from infra.stack import LocalStack, local_stack
from tests.conftest import scaled
from tests.integration.chat.conftest import Chat
from tests.wire import REPO, Peer, unique

PARTITION_SIZE = 8
FIRST, LATER = 12, 28  # joined before the room spreads, and after


class FanOutLog:
    """The fan-out function's "shard delivered" lines, as its sandboxes log them."""

    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = []

    def __call__(self, function: str, line: str) -> None:
        if function.endswith("fanout") and '"shard delivered"' in line:
            self.lines.append(json.loads(line[line.index("{") :]))


@pytest.fixture(scope="module")
def fanout_log() -> FanOutLog:
    return FanOutLog()


@pytest.fixture(scope="module")
async def chat_stack(fanout_log: FanOutLog) -> AsyncIterator[LocalStack]:
    """For this module, the conftest's `chat` runs on a stack with tiny room partitions,
    where one user may hold a crowd of connections."""
    env = {
        "CHAT_ROOM_PARTITION_SIZE": str(PARTITION_SIZE),
        "CHAT_MAX_CONNECTIONS_PER_USER": "1000",
    }
    async with local_stack(
        REPO / "serverless.yml", "dev", environment=env, log=fanout_log
    ) as stack:
        yield stack


async def crowd(chat: Chat, user: str, room: str, size: int) -> list[Peer]:
    """`size` connections of `user` in `room` (one user: no presence fan-out)."""
    clients = list(await asyncio.gather(*(chat.connect(user) for _ in range(size))))
    await asyncio.gather(*(c.call("join", room=room) for c in clients))
    return clients


def partitions(stack: LocalStack, room: str) -> dict[int, set[str]]:
    """The connection ids of each non-empty membership partition of `room`, read
    straight from the stack's DynamoDB."""
    db = dynamodb_client(stack.dynamodb_endpoint, stack.spec.region, dummy_credentials=True)
    table = stack.spec.functions["message"].environment["CHAT_CONNECTIONS_TABLE"]
    found: dict[int, set[str]] = {}
    for index in range(64):
        pk = f"R#{room}" if index == 0 else f"R#{room}#{index}"
        items = db.query(
            TableName=table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :c)",
            ExpressionAttributeValues={":pk": {"S": pk}, ":c": {"S": "C#"}},
        )["Items"]
        if items:
            found[index] = {item["sk"]["S"][2:] for item in items}
    return found


async def test_a_spread_room_is_read_partition_by_partition_by_separate_invocations(
    chat: Chat, chat_stack: LocalStack, fanout_log: FanOutLog
) -> None:
    room, user = unique("spread"), unique("crowd")
    early = await crowd(chat, user, room, FIRST)
    sender = early[0]
    # The first message finds the base over the partition size: the room spreads, and
    # joins from now on go to partitions chosen from their connection ids.
    await sender.send("send", room=room, text="grow")
    await sender.expect("message", room=room, text="grow")
    await asyncio.gather(*(c.expect("message", room=room, text="grow") for c in early[1:]))
    late = await crowd(chat, user, room, LATER)
    layout = await asyncio.to_thread(partitions, chat_stack, room)
    assert len(layout) > 1, f"the room never spread: {layout}"
    assert sum(len(ids) for ids in layout.values()) == FIRST + LATER

    before = len(fanout_log.lines)
    await sender.send("send", room=room, text="to every partition")
    ack = await sender.expect("message", room=room, text="to every partition")
    others = [*early[1:], *late]
    frames = await asyncio.gather(
        *(c.expect("message", room=room, text="to every partition") for c in others)
    )
    assert {f["id"] for f in frames} == {ack["id"]}

    # Each partition but the base was read once, by an invocation of its own, which read
    # nothing else; the lines come after the deliveries, so wait for them.
    spread = sorted(i for i in layout if i)
    deadline = time.monotonic() + scaled(10)
    while len(fanout_log.lines) - before < len(spread):
        assert time.monotonic() < deadline, f"fan-out lines: {fanout_log.lines[before:]}"
        await asyncio.sleep(0.05)  # polling for the log lines, not hoping
    lines = fanout_log.lines[before:]
    reads = [line["read"] for line in lines]
    assert all(len(r) == 1 for r in reads), reads
    assert sorted(r[0][0] for r in reads) == spread
    for line in lines:
        (index, count), first = line["read"][0], line["partitions"][0]
        assert index == first
        assert count == len(layout[index])
        assert line["delivered"] == count
    assert chat_stack.runtime.sandbox_pids("fanout")


async def test_disconnect_removes_a_membership_outside_the_base_partition(
    chat: Chat, chat_stack: LocalStack
) -> None:
    room, user = unique("spread"), unique("crowd")
    early = await crowd(chat, user, room, FIRST)
    await early[0].send("send", room=room, text="grow")
    await asyncio.gather(*(c.expect("message", room=room, text="grow") for c in early))
    late = await crowd(chat, user, room, LATER)
    ids = [(await c.call("whoami"))["connectionId"] for c in late]
    layout = await asyncio.to_thread(partitions, chat_stack, room)
    leaving = next(
        (peer, cid) for peer, cid in zip(late, ids, strict=True) if cid not in layout.get(0, ())
    )
    peer, cid = leaving
    (index,) = [i for i, members in layout.items() if cid in members]
    await peer.close()
    deadline = time.monotonic() + scaled(10)
    while cid in (await asyncio.to_thread(partitions, chat_stack, room)).get(index, ()):
        assert time.monotonic() < deadline, f"{cid}'s membership in partition {index} stayed"
        await asyncio.sleep(0.05)  # polling DynamoDB for the removal, not hoping
    after = await asyncio.to_thread(partitions, chat_stack, room)
    assert sum(len(m) for m in after.values()) == FIRST + LATER - 1


def spread_room(stack: LocalStack, room: str, extent: int) -> None:
    """Make joins into `room` go to `extent` partitions, as the message function does
    when a room grows (`Store.set_layout`): a room that size without thousands of joins."""
    from handlers.chat.settings import Settings
    from handlers.chat.store import Layout, Store

    db = dynamodb_client(stack.dynamodb_endpoint, stack.spec.region, dummy_credentials=True)
    env = stack.spec.functions["message"].environment
    settings = Settings(
        connections_table=env["CHAT_CONNECTIONS_TABLE"],
        messages_table=env["CHAT_MESSAGES_TABLE"],
    )
    assert Store(db, settings).set_layout(room, Layout(), extent, int(time.time() * 1000))


async def test_the_fanout_function_hands_the_rest_of_its_range_on_to_itself(
    chat: Chat, chat_stack: LocalStack, fanout_log: FanOutLog
) -> None:
    # More partitions than one invocation hands off (shards.BRANCHES, 16): the message
    # function hands off 16 ranges, and those of two partitions hand one on, to the
    # fan-out function itself, through the Invoke API.
    extent = 20
    room, user = unique("tree"), unique("crowd")
    # The user's first join fans presence out, which reads the base and resizes the
    # layout from it: done before the room is spread, so the layout set stays.
    first = await crowd(chat, user, room, 1)
    await asyncio.to_thread(spread_room, chat_stack, room, extent)
    clients = [*first, *await crowd(chat, user, room, 2 * extent)]
    layout = await asyncio.to_thread(partitions, chat_stack, room)
    assert len(layout) > 10, layout

    before = len(fanout_log.lines)
    sender, others = clients[0], clients[1:]
    await sender.send("send", room=room, text="down the tree")
    ack = await sender.expect("message", room=room, text="down the tree")
    frames = await asyncio.gather(
        *(c.expect("message", room=room, text="down the tree") for c in others)
    )
    assert {f["id"] for f in frames} == {ack["id"]}
    deadline = time.monotonic() + scaled(10)
    while len(fanout_log.lines) - before < extent - 1:
        assert time.monotonic() < deadline, f"fan-out lines: {fanout_log.lines[before:]}"
        await asyncio.sleep(0.05)  # polling for the log lines, not hoping
    lines = fanout_log.lines[before:]
    # One invocation per partition past the base (more than the message function's 16
    # hand-offs), each reading only the first partition of its range.
    assert sorted(line["read"][0][0] for line in lines) == list(range(1, extent))
    for line in lines:
        ((index, count),) = line["read"]
        assert index == line["partitions"][0]
        assert count == len(layout.get(index, ()))
    handed_on = [line for line in lines if line["partitions"][1] - line["partitions"][0] == 1]
    assert len(handed_on) > extent - 1 - 16

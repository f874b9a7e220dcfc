"""A room larger than the shard size, end to end: the message function hands shards to
the fan-out function through boto3's `lambda` client and the local Invoke API
(infra.awslambda.invoke_api), and every member gets the message once, in separate sandboxes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from infra.dynamo import dynamodb_client
from infra.stack import LocalStack, local_stack
from tests.conftest import scaled
from tests.integration.chat.conftest import Chat
from tests.wire import REPO, Peer, unique

SHARD = 10
# Sorts after every real id, so it falls in the last shard, which is handed off.
GHOST = "zzzzzzzzzzzzzzz="


@pytest.fixture(scope="module")
async def chat_stack() -> AsyncIterator[LocalStack]:
    """For this module, the conftest's `chat` runs on a stack with tiny shards."""
    env = {"CHAT_FANOUT_SHARD_SIZE": str(SHARD)}
    async with local_stack(REPO / "serverless.yml", "dev", environment=env) as stack:
        yield stack


async def crowd(chat: Chat, room: str, size: int) -> list[Peer]:
    """`size` connections of one user in `room` (one user: no presence fan-out)."""
    user = unique("crowd")
    clients = list(await asyncio.gather(*(chat.connect(user) for _ in range(size))))
    await asyncio.gather(*(c.call("join", room=room) for c in clients))
    return clients


def connections_table(stack: LocalStack) -> tuple[Any, str]:
    """boto3 on the stack's embedded DynamoDB, and the connections table's name."""
    db = dynamodb_client(stack.dynamodb_endpoint, stack.spec.region, dummy_credentials=True)
    return db, stack.spec.functions["message"].environment["CHAT_CONNECTIONS_TABLE"]


def memberships(stack: LocalStack, room: str) -> set[str]:
    db, table = connections_table(stack)
    items = db.query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"R#{room}"}},
    )["Items"]
    return {item["sk"]["S"][2:] for item in items}


def ghost_in(stack: LocalStack, room: str) -> None:
    """A membership whose connection is long gone, as if its $disconnect never ran."""
    db, table = connections_table(stack)
    db.put_item(
        TableName=table,
        Item={
            "pk": {"S": f"R#{room}"},
            "sk": {"S": f"C#{GHOST}"},
            "uid": {"S": "ghost"},
            "uname": {"S": "ghost"},
            "expiresAt": {"N": str(int(time.time()) + 3600)},
        },
    )


async def test_every_member_of_a_sharded_room_gets_the_message_once(
    chat: Chat, chat_stack: LocalStack
) -> None:
    room = unique("big")
    clients = await crowd(chat, room, 3 * SHARD + 5)
    sender, others = clients[0], clients[1:]
    await sender.send("send", room=room, text="to all 35")
    ack = await sender.expect("message", room=room)
    frames = await asyncio.gather(*(c.expect("message", room=room) for c in others))
    assert {f["id"] for f in frames} == {ack["id"]}
    # Shards ran in the fan-out function's own sandboxes, not in the message function's.
    assert chat_stack.runtime.sandbox_pids("fanout")


async def test_a_gone_member_in_a_handed_off_shard_is_removed(
    chat: Chat, chat_stack: LocalStack
) -> None:
    room = unique("big")
    clients = await crowd(chat, room, 2 * SHARD + 2)
    ghost_in(chat_stack, room)
    await clients[0].send("send", room=room, text="who is here")
    await asyncio.gather(*(c.expect("message", room=room) for c in clients))
    # The fan-out function's 410 handling runs after its deliveries: wait for it.
    deadline = time.monotonic() + scaled(10)
    while GHOST in await asyncio.to_thread(memberships, chat_stack, room):
        assert time.monotonic() < deadline, "the gone member was never removed"
        await asyncio.sleep(0.05)  # polling DynamoDB for the removal, not hoping
    assert len(memberships(chat_stack, room)) == len(clients)

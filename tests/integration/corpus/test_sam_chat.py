"""tests/corpus/sam_chat: aws-samples/simple-websockets-chat-app's template, in Python:
a SAM template, one CodeUri per function, `https://{domainName}/{stage}` endpoints."""

from __future__ import annotations

import asyncio
import json

from infra.dynamodb import MotoServer
from infra.stack import local_stack
from tests.conftest import scaled
from tests.integration.corpus.conftest import CORPUS, open_ws

TEMPLATE = CORPUS / "sam_chat" / "template.yaml"


async def test_a_message_reaches_every_connection(moto_server: MotoServer) -> None:
    async with local_stack(TEMPLATE.parent, moto=moto_server) as stack:
        assert stack.stage == "Prod"
        async with await open_ws(stack.ws_url) as alice, await open_ws(stack.ws_url) as bob:
            await alice.send(json.dumps({"action": "sendmessage", "data": "hello all"}))
            got = [await asyncio.wait_for(ws.recv(), scaled(10)) for ws in (alice, bob)]
    assert got == ["hello all", "hello all"]


async def test_a_gone_connection_is_deleted_by_the_sender(moto_server: MotoServer) -> None:
    async with local_stack(TEMPLATE, moto=moto_server) as stack:
        async with await open_ws(stack.ws_url) as alice:
            # A connection id the table holds but the gateway does not know: 410 Gone.
            gone_id = "R1kmxc2VNjMCFIA="
            table = stack.spec.tables[0]["TableName"]
            await asyncio.to_thread(_put_connection, stack.dynamodb_endpoint, table, gone_id)
            await alice.send(json.dumps({"action": "sendmessage", "data": "still here?"}))
            assert await asyncio.wait_for(alice.recv(), scaled(10)) == "still here?"
        left = await asyncio.to_thread(_connection_ids, stack.dynamodb_endpoint, table)
    assert gone_id not in left


def _put_connection(endpoint: str, table: str, connection_id: str) -> None:
    from infra.dynamodb import dynamodb_client

    dynamodb_client(endpoint, "us-east-1", dummy_credentials=True).put_item(
        TableName=table, Item={"connectionId": {"S": connection_id}}
    )


def _connection_ids(endpoint: str, table: str) -> set[str]:
    from infra.dynamodb import dynamodb_client

    items = dynamodb_client(endpoint, "us-east-1", dummy_credentials=True).scan(TableName=table)
    return {item["connectionId"]["S"] for item in items["Items"]}

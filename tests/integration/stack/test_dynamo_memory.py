"""The embedded DynamoDB must not grow with every write: a soak writes for hours.

moto registers every model object it creates (each item version, each table copy a
TransactWriteItems makes for rollback) for its dashboard and never lets go of them; a
10-minute soak grew the server from 0.5 to 8 GiB. Its dashboard data shows what it holds.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request

from infra.dynamodb import MotoServer, dynamodb_client


def _held_items(endpoint: str) -> int:
    with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=10) as response:
        data = json.load(response)
    return len(data.get("dynamodb", {}).get("Item", []))


def _overwrite_one_item(endpoint: str, times: int) -> None:
    db = dynamodb_client(endpoint, "us-east-1", dummy_credentials=True)
    db.create_table(
        TableName="memory-test",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for n in range(times):
        db.put_item(TableName="memory-test", Item={"pk": {"S": "one"}, "n": {"N": str(n)}})


async def test_overwriting_an_item_does_not_keep_its_old_versions(moto_server: MotoServer) -> None:
    await moto_server.reset()
    await asyncio.to_thread(_overwrite_one_item, moto_server.endpoint, 40)
    # One item is stored; before the fix the server still held all 40 versions.
    assert await asyncio.to_thread(_held_items, moto_server.endpoint) <= 1

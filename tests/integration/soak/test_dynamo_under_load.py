"""The embedded DynamoDB under concurrent load, as the soak drives it: every request is
applied whole, and a cancelled transaction (the service's clientMsgId dedup cancels one
on every retry) takes nothing else with it.

moto's backends are not thread-safe: unguarded, TransactWriteItems deep-copies the table
while other threads write (an HTTP 500) and a cancelled one restores that copy, silently
wiping every write made meanwhile: chat messages and memberships vanished under load.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from infra.dynamodb import MotoServer

WRITERS = 4
PUTS = 150
CANCELLED = 150


def client(endpoint: str) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        # No retries: a 500 from the server is a failure here, not something to paper over.
        config=Config(retries={"mode": "standard", "max_attempts": 1}),
    )


def count(db: Any, table: str, pk: str) -> int:
    total = 0
    kwargs: dict[str, Any] = {}
    while True:
        page = db.query(
            TableName=table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
            Select="COUNT",
            **kwargs,
        )
        total += int(page["Count"])
        if "LastEvaluatedKey" not in page:
            return total
        kwargs = {"ExclusiveStartKey": page["LastEvaluatedKey"]}


async def test_cancelled_transactions_lose_no_concurrent_writes(moto_server: MotoServer) -> None:
    table = f"load-{uuid.uuid4().hex[:8]}"
    setup = client(moto_server.endpoint)
    setup.create_table(
        TableName=table,
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    claim = {"pk": {"S": "D#claim"}, "sk": {"S": "D"}}
    setup.put_item(TableName=table, Item=claim)

    def write(worker: int) -> None:
        db = client(moto_server.endpoint)
        for n in range(PUTS):
            item = {"pk": {"S": "R#room"}, "sk": {"S": f"{worker:02d}-{n:04d}"}}
            db.put_item(TableName=table, Item=item)

    def retry_a_claimed_message() -> int:
        db = client(moto_server.endpoint)
        cancelled = 0
        for n in range(CANCELLED):
            try:
                db.transact_write_items(
                    TransactItems=[
                        {
                            "Put": {
                                "TableName": table,
                                "Item": {"pk": {"S": "R#dup"}, "sk": {"S": str(n)}},
                            }
                        },
                        {
                            "Put": {
                                "TableName": table,
                                "Item": claim,
                                "ConditionExpression": "attribute_not_exists(pk)",
                            }
                        },
                    ]
                )
            except ClientError as exc:
                assert exc.response["Error"]["Code"] == "TransactionCanceledException", exc
                cancelled += 1
        return cancelled

    results = await asyncio.gather(
        asyncio.to_thread(retry_a_claimed_message),
        *(asyncio.to_thread(write, w) for w in range(WRITERS)),
    )
    assert results[0] == CANCELLED
    assert count(setup, table, "R#room") == WRITERS * PUTS
    assert count(setup, table, "R#dup") == 0  # cancelled means nothing of it was written
    setup.delete_table(TableName=table)

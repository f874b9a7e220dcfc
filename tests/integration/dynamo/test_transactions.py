"""The embedded DynamoDB's transactions: all or nothing, without copying whole tables."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from infra.dynamo import MotoServer, start_moto


@pytest.fixture(scope="module")
async def moto() -> AsyncIterator[MotoServer]:
    server = await start_moto()
    yield server
    await server.close()


@pytest.fixture
async def table(moto: MotoServer) -> Any:
    await moto.reset()
    db = boto3.client(
        "dynamodb",
        endpoint_url=moto.endpoint,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    db.create_table(
        TableName="t",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
    )
    return db


def key(pk: str, sk: str = "s") -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def test_cancelled_transaction_rolls_back_only_its_own_items(table: Any) -> None:
    db = table
    db.put_item(TableName="t", Item={**key("a"), "n": {"N": "1"}})
    db.put_item(TableName="t", Item=key("a", "claim"))
    db.put_item(TableName="t", Item={**key("other"), "n": {"N": "7"}})
    with pytest.raises(ClientError):
        db.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "t", "Item": {**key("new"), "n": {"N": "2"}}}},
                {
                    "Update": {
                        "TableName": "t",
                        "Key": key("a"),
                        "UpdateExpression": "SET n = n + :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
                {
                    "Put": {
                        "TableName": "t",
                        "Item": key("a", "claim"),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    assert "Item" not in db.get_item(TableName="t", Key=key("new"))  # the put was undone
    assert db.get_item(TableName="t", Key=key("a"))["Item"]["n"] == {"N": "1"}  # and the update
    assert db.get_item(TableName="t", Key=key("other"))["Item"]["n"] == {"N": "7"}
    # A successful transaction applies every item.
    db.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": "t", "Item": key("new")}},
            {"Delete": {"TableName": "t", "Key": key("a", "claim")}},
        ]
    )
    assert "Item" in db.get_item(TableName="t", Key=key("new"))
    assert "Item" not in db.get_item(TableName="t", Key=key("a", "claim"))

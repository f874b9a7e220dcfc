"""The embedded DynamoDB: moto made faster (infra.moto_speedups) answers exactly as before."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from infra.dynamo import MotoServer, dynamodb_client, start_moto


@pytest.fixture(scope="module")
async def moto() -> AsyncIterator[MotoServer]:
    server = await start_moto()
    yield server
    await server.close()


@pytest.fixture
async def table(moto: MotoServer) -> Any:
    await moto.reset()
    db = dynamodb_client(moto.endpoint, "us-east-1", dummy_credentials=True)
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


def test_every_attribute_type_round_trips(table: Any) -> None:
    db = table
    item = {
        **key("types"),
        "s": {"S": "ünïcode ✓"},
        "n": {"N": "-12.5"},
        "t": {"BOOL": True},
        "f": {"BOOL": False},
        "z": {"NULL": True},
        "ss": {"SS": ["a", "b"]},
        "ns": {"NS": ["1", "2"]},
        "b": {"B": b"\x00\xffbin"},
        "bs": {"BS": [b"\x01", b"\x02"]},
        "l": {"L": [{"S": "x"}, {"N": "1"}, {"M": {"deep": {"B": b"\x07"}}}]},
        "m": {"M": {"a": {"L": []}, "b": {"M": {}}, "c": {"SS": ["q"]}}},
    }
    db.put_item(TableName="t", Item=item)
    got = db.get_item(TableName="t", Key=key("types"))["Item"]
    queried = db.query(
        TableName="t",
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "types"}},
    )["Items"]

    def normal(value: Any) -> Any:  # sets come back in any order
        if isinstance(value, dict):
            return {
                k: sorted(v) if k in ("SS", "NS", "BS") else normal(v) for k, v in value.items()
            }
        if isinstance(value, list):
            return [normal(v) for v in value]
        return value

    assert normal(got) == normal(item)
    assert [normal(i) for i in queried] == [normal(item)]


def test_query_reads_only_its_partition_in_range_order(table: Any) -> None:
    db = table
    for pk in ("p1", "p2", "p0"):
        for sk in ("c", "a", "b"):
            db.put_item(TableName="t", Item=key(pk, sk))
    page = db.query(
        TableName="t",
        KeyConditionExpression="pk = :p AND sk < :s",
        ExpressionAttributeValues={":p": {"S": "p1"}, ":s": {"S": "c"}},
        ScanIndexForward=False,
        Limit=1,
    )
    assert [i["sk"]["S"] for i in page["Items"]] == ["b"]
    rest = db.query(
        TableName="t",
        KeyConditionExpression="pk = :p AND sk < :s",
        ExpressionAttributeValues={":p": {"S": "p1"}, ":s": {"S": "c"}},
        ScanIndexForward=False,
        ExclusiveStartKey=page["LastEvaluatedKey"],
    )
    assert [(i["pk"]["S"], i["sk"]["S"]) for i in rest["Items"]] == [("p1", "a")]

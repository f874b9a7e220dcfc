"""The embedded DynamoDB: moto made faster (infra.dynamodb.moto_speedups) answers as before."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from bench import moto_fronts
from infra.dynamodb import MotoServer, dynamodb_client, start_moto


@pytest.fixture(scope="module")
async def moto() -> AsyncIterator[MotoServer]:
    server = await start_moto()
    yield server
    await server.close()


_TABLE: dict[str, Any] = {
    "TableName": "t",
    "BillingMode": "PAY_PER_REQUEST",
    "AttributeDefinitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
    ],
    "KeySchema": [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ],
}


@pytest.fixture
async def table(moto: MotoServer) -> Any:
    await moto.reset()
    db = dynamodb_client(moto.endpoint, "us-east-1", dummy_credentials=True)
    db.create_table(**_TABLE)
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


# -- DynamoDB calls dispatched straight to moto's handler (moto_speedups.dynamodb_first) ---


def _calls(db: Any) -> None:
    """Successes and each kind of error a service meets, in one sequence."""
    db.put_item(TableName="t", Item={**key("a"), "n": {"N": "1"}, "b": {"B": b"\x00"}})
    db.get_item(TableName="t", Key=key("a"))
    db.get_item(TableName="t", Key=key("missing"))
    db.update_item(
        TableName="t",
        Key=key("a"),
        UpdateExpression="SET n = n + :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
        ReturnValues="ALL_NEW",
    )
    db.batch_write_item(
        RequestItems={"t": [{"PutRequest": {"Item": key("a", str(i))}} for i in range(3)]}
    )
    db.query(
        TableName="t",
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "a"}},
        Limit=2,
    )
    failing: list[dict[str, Any]] = [
        {  # ConditionalCheckFailedException, with the item it found
            "TableName": "t",
            "Item": key("a"),
            "ConditionExpression": "attribute_not_exists(pk)",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        },
        {"TableName": "nope", "Item": key("a")},  # ResourceNotFoundException
        {"TableName": "t", "Item": {"pk": {"N": "1"}, "sk": {"S": "s"}}},  # ValidationException
    ]
    for request in failing:
        with pytest.raises(ClientError):
            db.put_item(**request)
    with pytest.raises(ClientError):  # TransactionCanceledException
        db.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "t", "Item": key("b")}},
                {
                    "ConditionCheck": {
                        "TableName": "t",
                        "Key": key("zz"),
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
            ]
        )


async def test_direct_dispatch_answers_what_moto_flask_app_answers(table: Any) -> None:
    """Every response, success or error, is the same status, headers and bytes as moto's
    Flask app sends (but for the request id, which is random, and the CORS header
    flask-cors adds, which the embedded server never sends: `infra.dynamodb.guard`)."""
    flask = await start_moto(module=moto_fronts.MODULE, args=["flask"])
    try:
        through_flask = dynamodb_client(flask.endpoint, "us-east-1", dummy_credentials=True)
        through_flask.create_table(**_TABLE)
        answers: dict[str, list[tuple[int, dict[str, str], bytes]]] = {}
        for name, db in (("direct", table), ("flask", through_flask)):
            seen = answers.setdefault(name, [])

            def keep(http_response: Any, seen: list[Any] = seen, **_: Any) -> None:
                headers = {k.lower(): v for k, v in http_response.headers.items()}
                headers.pop("x-amzn-requestid")
                headers.pop("access-control-allow-origin", None)
                seen.append((http_response.status_code, headers, http_response.content))

            db.meta.events.register("after-call.dynamodb.*", keep)
            _calls(db)
    finally:
        await flask.close()
    assert [status for status, _, _ in answers["direct"]] == [200] * 6 + [400] * 4
    assert answers["direct"] == answers["flask"]

"""Handlers that use DynamoDB, SSM and the Management API through the stack's endpoints.

Only unmodified boto3 and the environment: no endpoint_url anywhere, as on AWS.
"""

from __future__ import annotations

import json
import os
from typing import Any

import boto3

TABLE = os.environ["ITEMS_TABLE"]


def connect(event: dict[str, Any], context: Any) -> dict[str, Any]:
    token = (event.get("queryStringParameters") or {}).get("token", "")
    secret = boto3.client("ssm").get_parameter(
        Name=os.environ["GATE_SECRET_PARAM"], WithDecryption=True
    )["Parameter"]
    if token != secret["Value"] or secret["Type"] != "SecureString":
        return {"statusCode": 403}
    boto3.client("dynamodb").put_item(
        TableName=TABLE,
        Item={
            "pk": {"S": event["requestContext"]["connectionId"]},
            "owner": {"S": "me"},
        },
    )
    return {"statusCode": 200}


def report(event: dict[str, Any], context: Any) -> dict[str, Any]:
    dynamodb = boto3.client("dynamodb")
    table = dynamodb.describe_table(TableName=TABLE)["Table"]
    ttl = dynamodb.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"]
    owned = dynamodb.query(
        TableName=TABLE,
        IndexName="byOwner",
        KeyConditionExpression="#o = :me",
        ExpressionAttributeNames={"#o": "owner"},
        ExpressionAttributeValues={":me": {"S": "me"}},
    )["Count"]
    facts = {
        "table": TABLE,
        "indexes": [i["IndexName"] for i in table.get("GlobalSecondaryIndexes", [])],
        "ttl": ttl.get("AttributeName"),
        "connections": owned,
        "body": event.get("body"),
    }
    # Pushed through the Management API (endpoint from the environment) ...
    boto3.client("apigatewaymanagementapi").post_to_connection(
        ConnectionId=event["requestContext"]["connectionId"],
        Data=json.dumps({"via": "management-api", **facts}).encode(),
    )
    # ... and answered as the route response.
    return {"statusCode": 200, "body": json.dumps({"via": "route-response"})}

import json
import os

import boto3

dynamodb = boto3.resource("dynamodb")
table = dynamodb.Table(os.environ["CONNECTIONS_TABLE"])


def handler(event, context):
    body = json.loads(event.get("body") or "{}")
    connections = table.scan(ProjectionExpression="connectionId").get("Items", [])
    reply = {
        "echo": body.get("data"),
        "connections": len(connections),
        "you": event["requestContext"]["connectionId"],
    }
    return {"statusCode": 200, "body": json.dumps(reply)}

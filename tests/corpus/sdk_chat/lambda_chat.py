"""
Chat over an API Gateway WebSocket API, in one Lambda function (the structure of the
AWS SDK for Python's cross-service example): the route key picks the action, a DynamoDB
table holds who is connected, and messages go out through the Management API at the
endpoint the request context names.
"""

import json
import logging
import os

import boto3
from botocore.exceptions import ClientError

logger = logging.getLogger()
logger.setLevel(logging.INFO)

dynamodb = boto3.resource("dynamodb")


def add_connection(table, connection_id, name):
    try:
        table.put_item(Item={"connection_id": connection_id, "user_name": name})
    except ClientError as err:
        logger.error("put_item for %s failed: %s", connection_id, err)
        return 503
    logger.info("%s joined as %s", connection_id, name)
    return 200


def remove_connection(table, connection_id):
    try:
        table.delete_item(Key={"connection_id": connection_id})
    except ClientError as err:
        logger.error("delete_item for %s failed: %s", connection_id, err)
        return 503
    return 200


def broadcast(table, sender_id, text, management):
    sender = table.get_item(Key={"connection_id": sender_id}).get("Item", {})
    name = sender.get("user_name", "guest")
    try:
        items = table.scan(ProjectionExpression="connection_id")["Items"]
    except ClientError as err:
        logger.error("scan failed: %s", err)
        return 500

    payload = f"{name}: {text}".encode("utf-8")
    for item in items:
        target = item["connection_id"]
        if target == sender_id:
            continue
        try:
            management.post_to_connection(ConnectionId=target, Data=payload)
        except management.exceptions.GoneException:
            # No $disconnect came for this one: forget it now.
            logger.info("%s is gone, deleting it", target)
            table.delete_item(Key={"connection_id": target})
        except ClientError as err:
            logger.error("post_to_connection %s failed: %s", target, err)
    return 200


def lambda_handler(event, context):
    ctx = event.get("requestContext", {})
    route = ctx.get("routeKey")
    connection_id = ctx.get("connectionId")
    table = dynamodb.Table(os.environ["table_name"])
    logger.info("route %s from %s", route, connection_id)

    if route == "$connect":
        params = event.get("queryStringParameters") or {}
        status = add_connection(table, connection_id, params.get("name", "guest"))
    elif route == "$disconnect":
        status = remove_connection(table, connection_id)
    elif route == "sendmessage":
        message = json.loads(event.get("body") or "{}")
        endpoint = "https://" + ctx["domainName"] + "/" + ctx["stage"]
        management = boto3.client("apigatewaymanagementapi", endpoint_url=endpoint)
        status = broadcast(table, connection_id, message.get("msg", ""), management)
    else:
        status = 404
    return {"statusCode": status}

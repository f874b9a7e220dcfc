import json
import os

import boto3

table = boto3.resource("dynamodb").Table(os.environ["ITEMS_TABLE"])

FACTS = (
    "ITEMS_TABLE",
    "ITEMS_TABLE_ARN",
    "STACK",
    "ITEMS_URL",
    "MODE",
    "FIRST_AZ",
    "SECOND_WORD",
    "OWNER_ACCOUNT",
    "API_ID",
    "GREETER_ARN",
)


def items(event, context):
    route = event["requestContext"]["routeKey"]
    if route == "$connect":
        return {"statusCode": 200}
    body = json.loads(event.get("body") or "{}")
    if route == "put":
        table.put_item(Item={"id": body["id"], "value": body["value"]})
        return {"statusCode": 200, "body": json.dumps({"stored": body["id"]})}
    if route == "get":
        item = table.get_item(Key={"id": body["id"]}).get("Item")
        return {"statusCode": 200, "body": json.dumps({"item": item})}
    facts = {name: os.environ[name] for name in FACTS}
    facts["apiId"] = event["requestContext"]["apiId"]
    facts["functionName"] = context.function_name
    return {"statusCode": 200, "body": json.dumps(facts)}


def hello(event, context):
    name = event["pathParameters"]["name"]
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"message": f"Hello, {name}!", "function": context.function_name}),
    }

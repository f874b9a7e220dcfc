import json
import os

import boto3

from todos import decimalencoder

dynamodb = boto3.resource("dynamodb")


def get(event, context):
    table = dynamodb.Table(os.environ["DYNAMODB_TABLE"])
    result = table.get_item(Key={"id": event["pathParameters"]["id"]})
    if "Item" not in result:
        return {"statusCode": 404, "body": json.dumps({"error": "not found"})}
    return {
        "statusCode": 200,
        "body": json.dumps(result["Item"], cls=decimalencoder.DecimalEncoder),
    }

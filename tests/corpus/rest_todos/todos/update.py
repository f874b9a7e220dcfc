import json
import logging
import os
import time

import boto3

from todos import decimalencoder

dynamodb = boto3.resource("dynamodb")


def update(event, context):
    data = json.loads(event["body"])
    if "text" not in data or "checked" not in data:
        logging.error("Validation Failed")
        raise Exception("Couldn't update the todo item.")

    table = dynamodb.Table(os.environ["DYNAMODB_TABLE"])
    result = table.update_item(
        Key={"id": event["pathParameters"]["id"]},
        ExpressionAttributeNames={"#todo_text": "text"},
        ExpressionAttributeValues={
            ":text": data["text"],
            ":checked": data["checked"],
            ":updatedAt": int(time.time() * 1000),
        },
        UpdateExpression="SET #todo_text = :text, checked = :checked, updatedAt = :updatedAt",
        ReturnValues="ALL_NEW",
    )
    return {
        "statusCode": 200,
        "body": json.dumps(result["Attributes"], cls=decimalencoder.DecimalEncoder),
    }

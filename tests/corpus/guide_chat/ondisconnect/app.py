import os

import boto3

ddb = boto3.client("dynamodb")


def handler(event, context):
    try:
        ddb.delete_item(
            TableName=os.environ["TABLE_NAME"],
            Key={"connectionId": {"S": event["requestContext"]["connectionId"]}},
        )
    except Exception as err:
        return {"statusCode": 500, "body": "Failed to disconnect: " + str(err)}
    return {"statusCode": 200, "body": "Disconnected."}

import os

import boto3

ddb = boto3.client("dynamodb")


def handler(event, context):
    try:
        ddb.put_item(
            TableName=os.environ["TABLE_NAME"],
            Item={"connectionId": {"S": event["requestContext"]["connectionId"]}},
        )
    except Exception as err:
        return {"statusCode": 500, "body": "Failed to connect: " + str(err)}
    return {"statusCode": 200, "body": "Connected."}

import os

import boto3

dynamodb = boto3.resource("dynamodb")
table = dynamodb.Table(os.environ["TABLE_NAME"])


def handler(event, context):
    connection_id = event["requestContext"]["connectionId"]
    try:
        table.put_item(Item={"connectionId": connection_id})
    except Exception as e:
        print(f"Failed to connect: {e}")
        return {"statusCode": 500, "body": "Failed to connect: " + str(e)}
    return {"statusCode": 200, "body": "Connected."}

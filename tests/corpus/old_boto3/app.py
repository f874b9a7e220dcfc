import json
import os

import boto3
import botocore

table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])


def connect(event, context):
    table.put_item(Item={"connectionId": event["requestContext"]["connectionId"]})
    return {"statusCode": 200}


def disconnect(event, context):
    table.delete_item(Key={"connectionId": event["requestContext"]["connectionId"]})
    return {"statusCode": 200}


def default(event, context):
    count = table.scan(Select="COUNT")["Count"]
    body = {
        "boto3": boto3.__version__,
        "botocore": botocore.__version__,
        "endpoint": table.meta.client.meta.endpoint_url,
        "connections": count,
    }
    return {"statusCode": 200, "body": json.dumps(body)}

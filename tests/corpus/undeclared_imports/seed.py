import json

import boto3
from moto import mock_aws  # only ever needed by the tests


def handler(event, context):
    return {"statusCode": 200, "body": json.dumps({"seeded": True})}

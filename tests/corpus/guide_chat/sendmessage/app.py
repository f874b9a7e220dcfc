import json
import os

import boto3
from botocore.exceptions import ClientError

ddb = boto3.client("dynamodb")
TABLE_NAME = os.environ["TABLE_NAME"]


def handler(event, context):
    try:
        connections = ddb.scan(TableName=TABLE_NAME, ProjectionExpression="connectionId")
    except ClientError as err:
        return {"statusCode": 500, "body": str(err)}

    request = event["requestContext"]
    apigw = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url="https://" + request["domainName"] + "/" + request["stage"],
    )
    data = json.loads(event["body"])["data"]

    for item in connections["Items"]:
        connection_id = item["connectionId"]["S"]
        try:
            apigw.post_to_connection(ConnectionId=connection_id, Data=data)
        except ClientError as err:
            if err.response["ResponseMetadata"]["HTTPStatusCode"] == 410:
                print(f"Found stale connection, deleting {connection_id}")
                ddb.delete_item(TableName=TABLE_NAME, Key={"connectionId": {"S": connection_id}})
            else:
                return {"statusCode": 500, "body": str(err)}

    return {"statusCode": 200, "body": "Data sent."}

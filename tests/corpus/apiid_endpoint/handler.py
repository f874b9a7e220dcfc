import json
import os

import boto3
from botocore.config import Config

dynamodb = boto3.resource("dynamodb")
table = dynamodb.Table(os.environ["CONNECTIONS_TABLE"])
apigw = boto3.client("apigatewaymanagementapi", endpoint_url=os.environ["APIG_ENDPOINT"])
sns = boto3.client("sns", config=Config(retries={"mode": "standard", "max_attempts": 2}))


def connection(event, context):
    connection_id = event["requestContext"]["connectionId"]
    if event["requestContext"]["eventType"] == "CONNECT":
        table.put_item(Item={"connectionId": connection_id})
    else:
        table.delete_item(Key={"connectionId": connection_id})
    return {"statusCode": 200}


def broadcast(event, context):
    data = json.loads(event["body"]).get("data", "")
    connections = table.scan(ProjectionExpression="connectionId")["Items"]
    for item in connections:
        try:
            apigw.post_to_connection(ConnectionId=item["connectionId"], Data=data.encode("utf-8"))
        except apigw.exceptions.GoneException:
            table.delete_item(Key={"connectionId": item["connectionId"]})
    return {"statusCode": 200}


def echo(event, context):
    # The endpoint from the event's API id and the function's region.
    ctx = event["requestContext"]
    endpoint = "https://{}.execute-api.{}.amazonaws.com/{}".format(
        ctx["apiId"], os.environ["AWS_REGION"], ctx["stage"]
    )
    client = boto3.client("apigatewaymanagementapi", endpoint_url=endpoint)
    body = json.loads(event["body"])
    client.post_to_connection(
        ConnectionId=ctx["connectionId"], Data=json.dumps({"echo": body.get("data")}).encode()
    )
    return {"statusCode": 200}


def audit(event, context):
    try:
        sns.publish(TopicArn=os.environ["AUDIT_TOPIC_ARN"], Message=event["body"])
    except Exception as exc:
        return {"statusCode": 500, "body": json.dumps({"error": type(exc).__name__})}
    return {"statusCode": 200, "body": json.dumps({"published": True})}

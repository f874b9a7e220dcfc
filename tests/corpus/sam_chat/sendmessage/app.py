import json
import os

import boto3

dynamodb = boto3.resource("dynamodb")
table = dynamodb.Table(os.environ["TABLE_NAME"])


def handler(event, context):
    try:
        connections = table.scan(ProjectionExpression="connectionId")["Items"]
    except Exception as e:
        return {"statusCode": 500, "body": str(e)}

    api = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url="https://"
        + event["requestContext"]["domainName"]
        + "/"
        + event["requestContext"]["stage"],
    )
    post_data = json.loads(event["body"])["data"]

    for connection in connections:
        connection_id = connection["connectionId"]
        try:
            api.post_to_connection(ConnectionId=connection_id, Data=post_data)
        except api.exceptions.GoneException:
            print(f"Found stale connection, deleting {connection_id}")
            table.delete_item(Key={"connectionId": connection_id})
        except Exception as e:
            return {"statusCode": 500, "body": str(e)}

    return {"statusCode": 200, "body": "Data sent."}

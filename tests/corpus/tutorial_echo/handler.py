import json

import boto3


def connectHandler(event, context):
    print("connectHandler", event)
    return {"statusCode": 200, "body": "connect"}


def disconnectHandler(event, context):
    print("disconnectHandler", event)
    return {"statusCode": 200, "body": "disconnect"}


def defaultHandler(event, context):
    print("defaultHandler", event)
    request = event["requestContext"]
    gatewayapi = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=f"https://{request['domainName']}/{request['stage']}",
    )
    connection_id = request["connectionId"]
    message = f"Hello {connection_id}, you said: {event['body']}"
    gatewayapi.post_to_connection(ConnectionId=connection_id, Data=message.encode("utf-8"))
    return {"statusCode": 200}


def pingHandler(event, context):
    return {"statusCode": 200, "body": json.dumps({"type": "pong"})}


def hello(event, context):
    body = {
        "message": "pong",
        "path": event["path"],
        "stage": event["requestContext"]["stage"],
    }
    return {"statusCode": 200, "body": json.dumps(body)}

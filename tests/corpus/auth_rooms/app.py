import json


def connect(event, context):
    # Browsers cannot send an Authorization header on a WebSocket; clients that name a
    # subprotocol get the first one back, or the browser drops the connection.
    protocols = event.get("headers", {}).get("Sec-WebSocket-Protocol")
    if protocols:
        return {
            "statusCode": 200,
            "headers": {"Sec-WebSocket-Protocol": protocols.split(",")[0].strip()},
        }
    return {"statusCode": 200}


def whoami(event, context):
    authorizer = event["requestContext"]["authorizer"]
    body = {"principalId": authorizer["principalId"], "user": authorizer["user"]}
    return {"statusCode": 200, "body": json.dumps(body)}


def default(event, context):
    return {"statusCode": 200, "body": "unknown action, try {\"action\": \"whoami\"}"}

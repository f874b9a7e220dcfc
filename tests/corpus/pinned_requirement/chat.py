import json

import jwt


def connect(event, context):
    return {"statusCode": 200}


def whoami(event, context):
    authorizer = event["requestContext"].get("authorizer", {})
    body = {"user": authorizer.get("user"), "pyjwt": jwt.__version__, "authorizerPyjwt": authorizer.get("pyjwt")}
    return {"statusCode": 200, "body": json.dumps(body)}

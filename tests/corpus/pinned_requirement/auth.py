import os

import jwt


def generate_policy(principal_id, effect, resource, context=None):
    return {
        "principalId": principal_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
        "context": context or {},
    }


def handler(event, context):
    token = (event.get("queryStringParameters") or {}).get("token")
    try:
        claims = jwt.decode(token, os.environ["JWT_SECRET"], algorithms=["HS256"])
    except jwt.PyJWTError:
        raise Exception("Unauthorized")
    return generate_policy(
        claims["sub"], "Allow", event["methodArn"], {"user": claims["sub"], "pyjwt": jwt.__version__}
    )

# A REQUEST authorizer for $connect in the usual tutorial shape: look the token up,
# answer with an IAM policy for the methodArn, or raise "Unauthorized".

USERS = {"alice-token": "alice", "root-token": "root"}


def generate_policy(principal_id, effect, resource, context=None):
    response = {
        "principalId": principal_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
    }
    if context:
        response["context"] = context
    return response


def handler(event, context):
    print("authorizer event", event)
    token = event["queryStringParameters"]["token"]
    if token == "deny-me":
        return generate_policy("nobody", "Deny", event["methodArn"])
    user = USERS.get(token)
    if user is None:
        raise Exception("Unauthorized")
    return generate_policy(user, "Allow", event["methodArn"], {"user": user, "level": 3})

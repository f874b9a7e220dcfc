"""Handlers of the echo service: each one shows the gateway one behaviour.

The test gates (`GATES`) let a test hold `$connect` open while it probes the gateway;
they exist only because these handlers run in-process under the test invoker.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import boto3
from botocore.config import Config

GATES: dict[str, threading.Event] = {}
_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()


def _policy(principal: str, effect: str, arn: str, context: dict[str, Any]) -> dict[str, Any]:
    return {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": arn}],
        },
        "context": context,
    }


def authorize(event: dict[str, Any], context: Any) -> dict[str, Any]:
    token = event["queryStringParameters"]["token"]
    arn = event["methodArn"]
    if token == "unauthorized":
        raise Exception("Unauthorized")
    if token == "error":
        raise RuntimeError("the authorizer broke")
    if token == "deny":
        return _policy("mallory", "Deny", arn, {})
    if token == "nested":
        return _policy("alice", "Allow", arn, {"roles": ["a", "b"]})
    return _policy("alice", "Allow", arn, {"user": "alice", "level": 3, "admin": True})


def connect(event: dict[str, Any], context: Any) -> dict[str, Any] | None:
    query = event.get("queryStringParameters") or {}
    mode = query.get("connect", "")
    if mode == "raise":
        raise RuntimeError("connect failed")
    if mode == "none":
        return None
    if mode == "protocol":
        return {"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": "echo.v2"}}
    if mode == "gate":
        GATES[query["gate"]].wait(10)
    if mode.isdigit():
        return {"statusCode": int(mode), "body": "refused by $connect"}
    return {"statusCode": 200}


def disconnect(event: dict[str, Any], context: Any) -> None:
    return None


def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    ctx = event["requestContext"]
    reply = {"route": ctx["routeKey"], "body": event["body"], "connectionId": ctx["connectionId"]}
    return {"statusCode": 200, "body": json.dumps(reply)}


def boom(event: dict[str, Any], context: Any) -> dict[str, Any]:
    raise ValueError("boom")


def mirror(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Invoked through the Lambda Invoke API only (no events): returns what it got."""
    return {"got": event, "function": context.function_name}


def nothing(event: dict[str, Any], context: Any) -> None:
    return None


def slow(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Sleeps `seconds`, or waits until the test opens gate `gate`."""
    body = json.loads(event["body"])
    if "gate" in body:
        GATES[body["gate"]].wait(10)
    time.sleep(min(float(body.get("seconds", 0)), 3.0))
    return echo(event, context)


def _management(event: dict[str, Any]) -> Any:
    ctx = event["requestContext"]
    endpoint = f"http://{ctx['domainName']}/{ctx['stage']}"
    with _clients_lock:
        if endpoint not in _clients:
            _clients[endpoint] = boto3.client(
                "apigatewaymanagementapi",
                endpoint_url=endpoint,
                region_name="us-east-1",
                aws_access_key_id="test",
                aws_secret_access_key="test",
                config=Config(retries={"mode": "standard", "max_attempts": 1}),
            )
        return _clients[endpoint]


def post(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Post `data` to connection `to`; a stale id must surface as GoneException."""
    body = json.loads(event["body"])
    client = _management(event)
    try:
        client.post_to_connection(ConnectionId=body["to"], Data=body["data"].encode())
    except client.exceptions.GoneException:
        return {"statusCode": 200, "body": json.dumps({"gone": body["to"]})}
    return {"statusCode": 200, "body": json.dumps({"posted": body["to"]})}


def http_authorize(event: dict[str, Any], context: Any) -> dict[str, Any]:
    token = event["identitySource"][0]
    if token == "unauthorized":
        raise Exception("Unauthorized")
    if token == "error":
        raise RuntimeError("the authorizer broke")
    return {"isAuthorized": token == "allow", "context": {"user": "bob"}}


def hello(event: dict[str, Any], context: Any) -> dict[str, Any]:
    name = event["pathParameters"]["name"]
    user = event["requestContext"]["authorizer"]["lambda"]["user"]
    return {
        "statusCode": 201,
        "headers": {"Content-Type": "text/plain", "X-Route": event["routeKey"]},
        "body": f"hello {name}, from {user}",
    }


def plain(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"received": json.loads(event["body"]), "stage": event["requestContext"]["stage"]}


def ping(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A REST API route, answered the way the proxy integration requires."""
    if (event.get("queryStringParameters") or {}).get("fail"):
        return {"body": "no statusCode: a malformed proxy response"}
    facts = {
        "resource": event["resource"],
        "path": event["path"],
        "method": event["httpMethod"],
        "proxy": (event["pathParameters"] or {}).get("proxy"),
        "stage": event["requestContext"]["stage"],
        "contextPath": event["requestContext"]["path"],
        "body": event["body"],
    }
    return {"statusCode": 200, "headers": {"X-Api": "rest"}, "body": json.dumps(facts)}

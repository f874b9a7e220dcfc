"""Fan-out against botocore's Stubber: gone and failing recipients stop nobody."""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3
from botocore.stub import Stubber

from handlers.chat.fanout import FanOut

if TYPE_CHECKING:
    from mypy_boto3_apigatewaymanagementapi import ApiGatewayManagementApiClient


def client() -> ApiGatewayManagementApiClient:
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url="https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/dev",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )


def test_gone_and_failed_recipients_are_reported_and_the_rest_delivered() -> None:
    mgmt = client()
    stub = Stubber(mgmt)
    # One at a time (concurrency 1) so the Stubber's ordered expectations hold.
    stub.add_response("post_to_connection", {}, {"ConnectionId": "a=", "Data": b"hi"})
    stub.add_client_error("post_to_connection", "GoneException", http_status_code=410)
    stub.add_client_error("post_to_connection", "ForbiddenException", http_status_code=403)
    stub.add_response("post_to_connection", {}, {"ConnectionId": "d=", "Data": b"hi"})
    with stub:
        result = FanOut(mgmt, concurrency=1).deliver(["a=", "b=", "c=", "d="], "hi")
    assert result.delivered == 2
    assert result.gone == ["b="]
    assert result.failed == 1
    stub.assert_no_pending_responses()


def test_nothing_to_deliver_makes_no_call() -> None:
    mgmt = client()
    with Stubber(mgmt):
        assert FanOut(mgmt, concurrency=4).deliver([], "x").delivered == 0


def test_no_post_is_started_past_the_deadline() -> None:
    mgmt = client()
    with Stubber(mgmt) as stub:
        result = FanOut(mgmt, concurrency=1, remaining_ms=lambda: 100).deliver(["a=", "b="], "x")
        stub.assert_no_pending_responses()
    assert (result.delivered, result.failed) == (0, 2)

"""The Lambda Invoke API beside the gateway (infra.awslambda.invoke_api), driven by boto3's real
`lambda` client: what a function that invokes another one sees on AWS."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.config import Config

from infra.awslambda.invoke_api import ASYNC_PAYLOAD_BYTES, SYNC_PAYLOAD_BYTES
from tests.integration.gateway.conftest import Harness, StartGateway

ACCOUNT = "123456789012"


def lambda_client(h: Harness) -> Any:
    return boto3.client(
        "lambda",
        endpoint_url=h.server.base_url,
        region_name=h.server.spec.region,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"mode": "standard", "max_attempts": 1}),
    )


def name(h: Harness, function: str) -> str:
    return h.server.spec.deployed_name(function)


@pytest.fixture
async def h(start_gateway: StartGateway) -> Harness:
    return await start_gateway(lambda_retry_delays_s=(0.05, 0.1))


@pytest.mark.parametrize("form", ["name", "arn", "partial arn", "qualified"])
async def test_request_response_returns_the_functions_result(h: Harness, form: str) -> None:
    fn = name(h, "mirror")
    region = h.server.spec.region
    function_name = {
        "name": fn,
        "arn": f"arn:aws:lambda:{region}:{ACCOUNT}:function:{fn}",
        "partial arn": f"{ACCOUNT}:function:{fn}",
        "qualified": f"{fn}:$LATEST",
    }[form]
    client = lambda_client(h)
    resp = await _invoke(client, FunctionName=function_name, Payload=b'{"n": 1}')
    assert resp["StatusCode"] == 200 and "FunctionError" not in resp
    assert resp["ExecutedVersion"] == "$LATEST"
    assert json.loads(resp["Payload"].read()) == {"got": {"n": 1}, "function": "mirror"}


async def test_an_event_invocation_is_accepted_then_run(h: Harness) -> None:
    client = lambda_client(h)
    resp = await _invoke(
        client, FunctionName=name(h, "mirror"), InvocationType="Event", Payload=b'{"n": 2}'
    )
    assert resp["StatusCode"] == 202 and resp["Payload"].read() == b""
    record = await h.record(lambda r: r.function == "mirror")
    assert record.event == {"n": 2} and record.invocation.ok


async def test_a_function_error_is_a_200_with_function_error_set(h: Harness) -> None:
    resp = await _invoke(lambda_client(h), FunctionName=name(h, "boom"), Payload=b"{}")
    assert resp["StatusCode"] == 200 and resp["FunctionError"] == "Unhandled"
    assert json.loads(resp["Payload"].read()) == {"errorType": "ValueError", "errorMessage": "boom"}


async def test_a_failing_event_invocation_is_retried_twice_then_dropped(h: Harness) -> None:
    resp = await _invoke(
        lambda_client(h), FunctionName=name(h, "boom"), InvocationType="Event", Payload=b"{}"
    )
    assert resp["StatusCode"] == 202
    await h.record(lambda r: r.function == "boom" and len(h.invoker.find(_boom)) == 3)
    await h.server.close()  # nothing is left queued: a fourth attempt would be a bug
    assert len(h.invoker.find(_boom)) == 3


def _boom(r: Any) -> bool:
    return bool(r.function == "boom")


async def test_dry_run_checks_without_running(h: Harness) -> None:
    resp = await _invoke(
        lambda_client(h), FunctionName=name(h, "mirror"), InvocationType="DryRun", Payload=b"{}"
    )
    assert resp["StatusCode"] == 204
    assert h.invoker.find(lambda r: r.function == "mirror") == []


@pytest.mark.parametrize(
    "function_name",
    [
        "echo-test-nosuch",
        "mirror",  # the key under `functions:` is not the deployed name
        "arn:aws:lambda:us-west-2:123456789012:function:echo-test-mirror",  # other region
        "arn:aws:lambda:eu-west-1:999999999999:function:echo-test-mirror",  # other account
        "echo-test-mirror:prod",  # no aliases locally
    ],
)
async def test_an_unknown_function_is_resource_not_found(h: Harness, function_name: str) -> None:
    client = lambda_client(h)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        await _invoke(client, FunctionName=function_name, Payload=b"{}")


@pytest.mark.parametrize(
    ("kind", "limit"), [("Event", ASYNC_PAYLOAD_BYTES), ("RequestResponse", SYNC_PAYLOAD_BYTES)]
)
async def test_payload_limits_at_the_edge(h: Harness, kind: str, limit: int) -> None:
    client = lambda_client(h)
    fits = _payload_of(limit)
    resp = await _invoke(client, FunctionName=name(h, "mirror"), InvocationType=kind, Payload=fits)
    assert resp["StatusCode"] in (200, 202)
    with pytest.raises(client.exceptions.RequestTooLargeException):
        await _invoke(
            client,
            FunctionName=name(h, "mirror"),
            InvocationType=kind,
            Payload=_payload_of(limit + 1),
        )


def _payload_of(size: int) -> bytes:
    """A JSON object of exactly `size` bytes."""
    frame = b'{"x": ""}'
    return b'{"x": "' + b"a" * (size - len(frame)) + b'"}'


async def test_a_payload_that_is_not_json_is_refused(h: Harness) -> None:
    client = lambda_client(h)
    with pytest.raises(client.exceptions.InvalidRequestContentException):
        await _invoke(client, FunctionName=name(h, "mirror"), Payload=b"{not json")
    assert h.invoker.find(lambda r: r.function == "mirror") == []


async def _invoke(client: Any, **kwargs: Any) -> Any:
    import asyncio

    return await asyncio.to_thread(client.invoke, **kwargs)

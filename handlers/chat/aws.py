"""boto3 clients, created once per container and shared.

Clients are thread-safe once created but creating them concurrently is not, so they
are made up front (under a lock), never inside fan-out workers. Timeouts and retries
are explicit because the boto3 bundled with Lambda may be older than ours.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_apigatewaymanagementapi import ApiGatewayManagementApiClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_lambda import LambdaClient

_lock = threading.Lock()
_dynamodb: DynamoDBClient | None = None
_management: dict[str | None, ApiGatewayManagementApiClient] = {}
_lambda: LambdaClient | None = None

MANAGEMENT_ENDPOINT_ENV = ("AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI", "AWS_ENDPOINT_URL")


def client_config(attempts: int, pool: int) -> Config:
    """Explicit retries and timeouts, a pool sized to the caller's concurrency."""
    return Config(
        retries={"mode": "standard", "max_attempts": attempts},
        connect_timeout=2,
        read_timeout=5,
        max_pool_connections=pool,
        # Every request is built by code that mypy checks against the service's stubs,
        # and the service validates it again; botocore's own walk over the parameters
        # costs ~6 % of a call's client CPU (`python -m bench.boto_client`), on every
        # fan-out POST.
        parameter_validation=False,
    )


def _client(service: str, attempts: int, pool: int, **kwargs: Any) -> Any:
    """A boto3 client configured by `client_config` (call under `_lock`)."""
    config = client_config(attempts, pool)
    return boto3.client(service, config=config, **kwargs)  # type: ignore[call-overload]


def dynamodb() -> DynamoDBClient:
    global _dynamodb
    with _lock:
        if _dynamodb is None:
            _dynamodb = _client("dynamodb", attempts=4, pool=16)
        return _dynamodb


def management_endpoint(
    configured: str | None, domain_name: str | None = None, stage: str | None = None
) -> str | None:
    """Where to POST @connections: the configured endpoint, else the event's own API.

    When AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI (or AWS_ENDPOINT_URL) is set, boto3's own
    endpoint handling must win, so no endpoint_url is passed at all (None).
    """
    if any(os.environ.get(name) for name in MANAGEMENT_ENDPOINT_ENV):
        return None
    if configured:
        return configured
    if domain_name and stage:
        return f"https://{domain_name}/{stage}"
    raise RuntimeError("no Management API endpoint: set CHAT_MANAGEMENT_ENDPOINT")


def management(endpoint: str | None, concurrency: int) -> ApiGatewayManagementApiClient:
    """The Management API client for `endpoint`, its pool sized to the fan-out concurrency."""
    with _lock:
        client = _management.get(endpoint)
        if client is None:
            where = {} if endpoint is None else {"endpoint_url": endpoint}
            client = _client("apigatewaymanagementapi", attempts=3, pool=concurrency, **where)
            _management[endpoint] = client
        return client


def lambda_client() -> LambdaClient:
    """For handing fan-out shards to the fan-out function (asynchronous invokes)."""
    global _lambda
    with _lock:
        if _lambda is None:
            _lambda = _client("lambda", attempts=3, pool=8)
        return _lambda

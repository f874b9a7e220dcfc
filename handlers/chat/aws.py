"""AWS clients, created once per container and shared.

The clients are botocore's, from one botocore session per container (the one the
Management API sender uses): boto3's `boto3.client` adds nothing for a client but its
own import, ~9 ms of every cold start on python3.12 (`python -m bench.cold_import`).
Clients are thread-safe once created but creating them concurrently is not, so they are
made under a lock, never inside fan-out workers. Timeouts and retries are explicit
because the botocore bundled with Lambda may be older than ours. The Management API is
posted to by the lean sender (`management_api`), not a client.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from botocore.config import Config

from .management_api import ManagementApi, configured_endpoint, default_session

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_lambda import LambdaClient

_lock = threading.Lock()
_dynamodb: DynamoDBClient | None = None
_management: dict[str | None, ManagementApi] = {}
_lambda: LambdaClient | None = None

# As the handlers' boto3 clients had them: attempts in standard retry mode, timeouts (s).
MANAGEMENT_ATTEMPTS = 3
CONNECT_TIMEOUT_S = 2
READ_TIMEOUT_S = 5


def client_config(attempts: int, pool: int) -> Config:
    """Explicit retries and timeouts, a pool sized to the caller's concurrency."""
    return Config(
        retries={"mode": "standard", "max_attempts": attempts},
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
        max_pool_connections=pool,
        # Every request is built by code that mypy checks against the service's stubs,
        # and the service validates it again; botocore's own walk over the parameters
        # costs ~6 % of a call's client CPU (`python -m bench.boto_client`), on every
        # fan-out POST.
        parameter_validation=False,
    )


def _client(service: str, attempts: int, pool: int, **kwargs: Any) -> Any:
    """A client configured by `client_config` (call under `_lock`)."""
    config = client_config(attempts, pool)
    return default_session().create_client(service, config=config, **kwargs)


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

    When AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI (or AWS_ENDPOINT_URL, or the config file)
    configures one, that one wins, as it would in boto3: None is returned, and the sender
    (and the fan-out function a shard is handed to) reads it from its own environment.
    """
    if configured_endpoint() is not None:
        return None
    if configured:
        return configured
    if domain_name and stage:
        return f"https://{domain_name}/{stage}"
    raise RuntimeError("no Management API endpoint: set CHAT_MANAGEMENT_ENDPOINT")


def management(endpoint: str | None, concurrency: int) -> ManagementApi:
    """The Management API sender for `endpoint` (None: the configured one), with up to
    `concurrency` POSTs in flight."""
    with _lock:
        sender = _management.get(endpoint)
        if sender is None:
            sender = ManagementApi(
                endpoint,
                concurrency=concurrency,
                attempts=MANAGEMENT_ATTEMPTS,
                connect_timeout=CONNECT_TIMEOUT_S,
                read_timeout=READ_TIMEOUT_S,
            )
            _management[endpoint] = sender
        return sender


def lambda_client() -> LambdaClient:
    """For handing fan-out shards to the fan-out function (asynchronous invokes)."""
    global _lambda
    with _lock:
        if _lambda is None:
            _lambda = _client("lambda", attempts=3, pool=8)
        return _lambda

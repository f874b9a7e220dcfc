"""The embedded DynamoDB (and SSM): moto's server in its own process, plus table setup.

`start_moto()` runs `python -m infra.dynamo` (moto's WSGI app on a free loopback port,
in a separate process so it does not share the harness's GIL) and waits until it
answers. `provision()` creates the tables a `ServiceSpec` declares and its SSM
parameters, on that server or on any DynamoDB endpoint (DynamoDB Local, AWS).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ssm import SSMClient

    from infra.service import ServiceSpec

STARTUP_TIMEOUT_S = 30.0
DUMMY_CREDENTIALS = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "aws_session_token": "testing",
}


@dataclass
class MotoServer:
    """A running `python -m infra.dynamo` process."""

    proc: asyncio.subprocess.Process
    endpoint: str  # http://127.0.0.1:PORT, serves DynamoDB, SSM and the moto API

    async def reset(self) -> None:
        """Forget every table, item and parameter (moto's `POST /moto-api/reset`)."""
        await asyncio.to_thread(reset_moto, self.endpoint)

    async def close(self) -> None:
        if self.proc.returncode is None:
            if self.proc.stdin is not None:
                self.proc.stdin.close()  # it exits when its stdin closes
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                await self.proc.wait()


async def start_moto(
    host: str = "127.0.0.1", *, werkzeug: bool = False, flask: bool = False
) -> MotoServer:
    """Start moto's server on a free port of `host` and wait until it serves.

    Only `bench.dynamo_front` and a test set these, to compare front ends side by side:
    `werkzeug` serves through werkzeug's development server and moto's Flask app, as moto
    ships it; `flask` keeps our server but sends DynamoDB calls through moto's Flask app
    too (see `moto_speedups.dynamodb_first`)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "infra.dynamo",
        host,
        *(["werkzeug"] if werkzeug else []),
        *(["flask"] if flask else []),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        start_new_session=True,  # Ctrl-C is the harness's to handle
    )
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), STARTUP_TIMEOUT_S)
    except TimeoutError:
        line = b""
    if not line.strip().isdigit():
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise RuntimeError(f"moto server did not start (exit status {proc.returncode})")
    return MotoServer(proc, f"http://{host}:{int(line)}")


def reset_moto(endpoint: str) -> None:
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST", data=b"")
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


# -- provisioning --------------------------------------------------------------------------


def dynamodb_client(endpoint: str, region: str, *, dummy_credentials: bool) -> DynamoDBClient:
    import boto3

    # A real endpoint gets the developer's credentials when there are any (AWS needs them);
    # DynamoDB Local accepts anything.
    session = boto3.Session()
    use_dummy = dummy_credentials or session.get_credentials() is None
    kwargs: dict[str, Any] = DUMMY_CREDENTIALS if use_dummy else {}
    return session.client("dynamodb", endpoint_url=endpoint, region_name=region, **kwargs)


def ssm_client(endpoint: str, region: str) -> SSMClient:
    import boto3

    return boto3.client(
        "ssm",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        aws_session_token="testing",
    )


def create_table_request(props: Mapping[str, Any]) -> dict[str, Any]:
    """CloudFormation `AWS::DynamoDB::Table` Properties -> a CreateTable request."""
    billing = props.get("BillingMode", "PROVISIONED")
    request: dict[str, Any] = {
        "TableName": props["TableName"],
        "AttributeDefinitions": list(props["AttributeDefinitions"]),
        "KeySchema": list(props["KeySchema"]),
        "BillingMode": billing,
    }
    if billing == "PROVISIONED":
        request["ProvisionedThroughput"] = _throughput(props)
    gsis = []
    for index in props.get("GlobalSecondaryIndexes") or []:
        gsi = {k: index[k] for k in ("IndexName", "KeySchema", "Projection")}
        if billing == "PROVISIONED":
            gsi["ProvisionedThroughput"] = _throughput(index)
        gsis.append(gsi)
    if gsis:
        request["GlobalSecondaryIndexes"] = gsis
    lsis = [
        {k: index[k] for k in ("IndexName", "KeySchema", "Projection")}
        for index in props.get("LocalSecondaryIndexes") or []
    ]
    if lsis:
        request["LocalSecondaryIndexes"] = lsis
    stream = props.get("StreamSpecification")
    if stream and stream.get("StreamViewType"):
        request["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": stream["StreamViewType"],
        }
    return request


def _throughput(props: Mapping[str, Any]) -> dict[str, int]:
    given = props.get("ProvisionedThroughput") or {}
    return {
        "ReadCapacityUnits": int(given.get("ReadCapacityUnits", 5)),
        "WriteCapacityUnits": int(given.get("WriteCapacityUnits", 5)),
    }


def create_tables(client: DynamoDBClient, tables: Iterable[Mapping[str, Any]]) -> list[str]:
    """Create each table that does not exist yet (with its TTL); returns those created."""
    existing: set[str] = set()
    for page in client.get_paginator("list_tables").paginate():
        existing.update(page.get("TableNames", []))
    created = []
    for props in tables:
        name = str(props["TableName"])
        if name in existing:
            continue
        client.create_table(**create_table_request(props))
        client.get_waiter("table_exists").wait(
            TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
        )
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            client.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )
        created.append(name)
    return created


def put_parameters(client: SSMClient, parameters: Mapping[str, str]) -> None:
    """Store each parameter as a SecureString (as the deployed service expects)."""
    for name, value in parameters.items():
        client.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)


def provision(
    spec: ServiceSpec, *, dynamodb_endpoint: str, ssm_endpoint: str, dummy_credentials: bool = True
) -> list[str]:
    """Create `spec`'s missing tables and put its parameters; returns the tables created."""
    dynamodb = dynamodb_client(dynamodb_endpoint, spec.region, dummy_credentials=dummy_credentials)
    created = create_tables(dynamodb, spec.tables)
    put_parameters(ssm_client(ssm_endpoint, spec.region), spec.parameters)
    return created


# -- the server process ----------------------------------------------------------------------


def _stop_tracking_models() -> None:
    """moto keeps every model object it ever creates (for its dashboard) until a reset:
    every overwritten item, every table copy TransactWriteItems makes for rollback.
    A long run grew the server by gigabytes; without the registry they are freed."""
    from moto.core.common_models import BaseModel

    def untracked(cls: type[Any], *args: Any, **kwargs: Any) -> Any:
        return object.__new__(cls)

    BaseModel.__new__ = untracked  # type: ignore[method-assign]


def _serve(host: str, werkzeug: bool = False, flask: bool = False) -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from infra import moto_speedups
    from infra.wsgi_server import serve

    class Dispatcher(DomainDispatcherApplication):
        """moto's dispatcher, remembering which backend serves a host: its lookup scans
        every moto module on each request, a third of the cost of a PutItem."""

        backends: ClassVar[dict[str | None, Any]] = {}

        def get_backend_for_host(self, host: str | None) -> Any:
            if host not in self.backends:
                self.backends[host] = super().get_backend_for_host(host)
            return self.backends[host]

    _stop_tracking_models()
    moto_speedups.install()
    # moto's backends are not thread-safe: TransactWriteItems deep-copies a table while
    # other threads write to it (a 500), and a cancelled transaction restores that copy,
    # wiping every write made meanwhile. DynamoDB applies each request atomically; the
    # single-threaded server (infra.wsgi_server) applies one request at a time too.
    app: WSGIApplication = Dispatcher(create_backend_app)
    if not (werkzeug or flask):
        app = moto_speedups.dynamodb_first(app)

    def exit_with_parent() -> None:
        sys.stdin.buffer.read()  # EOF: the harness closed our stdin or died
        os._exit(0)

    threading.Thread(target=exit_with_parent, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))

    if werkzeug:
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
        lock = threading.Lock()

        def one_at_a_time(environ: WSGIEnvironment, start_response: StartResponse) -> Any:
            with lock:
                return list(app(environ, start_response))

        server = make_server(host, 0, one_at_a_time, threaded=True)
        print(server.port, flush=True)
        server.serve_forever()
        return

    async def run() -> None:
        server = await serve(app, host)
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()

    asyncio.run(run())


if __name__ == "__main__":
    _serve(
        sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1",
        werkzeug="werkzeug" in sys.argv[2:],
        flask="flask" in sys.argv[2:],
    )

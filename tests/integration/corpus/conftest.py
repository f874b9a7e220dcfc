"""Run a service of tests/corpus under the local stack, unedited, and talk to it as its
users would: websockets clients, plain HTTP, and a look into its DynamoDB tables."""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from websockets.asyncio.client import ClientConnection, connect

from infra.dynamodb import MotoServer
from infra.stack import LocalStack, local_stack
from tests.conftest import scaled

CORPUS = Path(__file__).resolve().parents[2] / "corpus"


@dataclass
class Running:
    stack: LocalStack
    logs: list[str] = field(default_factory=list)
    _clients: list[ClientConnection] = field(default_factory=list)

    async def connect(self, query: str = "", **kwargs: Any) -> ClientConnection:
        url = self.stack.ws_url + (f"?{query}" if query else "")
        ws = await connect(url, open_timeout=scaled(20), ping_interval=None, **kwargs)
        self._clients.append(ws)
        return ws

    async def http(
        self, method: str, path: str, body: Any = None
    ) -> tuple[int, dict[str, str], Any]:
        """A plain HTTP call on the gateway's port; the body decoded as JSON when it is."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.stack.http_url + path, data=data, method=method)

        def call() -> tuple[int, dict[str, str], bytes]:
            try:
                with urllib.request.urlopen(request, timeout=scaled(30)) as response:
                    return response.status, dict(response.headers), response.read()
            except urllib.error.HTTPError as error:
                return error.code, dict(error.headers), error.read()

        status, headers, raw = await asyncio.to_thread(call)
        try:
            return status, headers, json.loads(raw) if raw else None
        except ValueError:
            return status, headers, raw.decode()

    def table(self) -> Any:
        """The service's (only) DynamoDB table, through boto3."""
        (props,) = self.stack.spec.tables
        resource = boto3.resource(
            "dynamodb",
            endpoint_url=self.stack.dynamodb_endpoint,
            region_name=self.stack.spec.region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        return resource.Table(props["TableName"])

    async def until(self, condition: Callable[[], bool], what: str, seconds: float = 20) -> None:
        """Wait for something the service does after answering (a cleanup, say). The
        state is in DynamoDB, which offers nothing to wait on: poll it, up to a deadline."""
        async with asyncio.timeout(scaled(seconds)):
            while not await asyncio.to_thread(condition):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        assert await asyncio.to_thread(condition), what


async def recv(ws: ClientConnection, seconds: float = 20) -> str:
    message = await asyncio.wait_for(ws.recv(), scaled(seconds))
    assert isinstance(message, str)
    return message


RunCorpus = Callable[[str], contextlib.AbstractAsyncContextManager[Running]]


@pytest.fixture
def run_corpus(moto_server: MotoServer) -> RunCorpus:
    """`async with run_corpus("sdk_chat") as svc:` — tests/corpus/sdk_chat, started as
    `python -m infra --service tests/corpus/sdk_chat` would start it."""

    @contextlib.asynccontextmanager
    async def run(name: str) -> AsyncIterator[Running]:
        logs: list[str] = []
        async with local_stack(
            CORPUS / name,  # its serverless.yml, else its template.yaml
            moto=moto_server,
            log=lambda function, line: logs.append(f"{function} | {line}"),
        ) as stack:
            running = Running(stack, logs)
            try:
                yield running
            finally:
                for ws in running._clients:
                    await ws.close()

    return run


async def open_ws(url: str, **kwargs: Any) -> ClientConnection:
    return await connect(url, open_timeout=scaled(10), ping_interval=None, **kwargs)


async def ask(ws: ClientConnection, message: dict[str, Any]) -> Any:
    """Send a JSON frame and read the reply frame (the route response)."""
    await ws.send(json.dumps(message))
    return json.loads(await asyncio.wait_for(ws.recv(), scaled(10)))


def http_get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=scaled(10)) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")

"""local_stack and `python -m infra`: the pieces wired together as a deployed service is."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from infra.dynamodb import MotoServer, create_tables, dynamodb_client
from infra.stack import local_stack
from tests.conftest import scaled
from tests.integration.infra_cli import banner_value, cli

SERVICE = Path(__file__).parent / "service" / "serverless.yml"
REPO = Path(__file__).resolve().parents[3]


async def open_ws(url: str, **kwargs: Any) -> ClientConnection:
    return await connect(url, open_timeout=scaled(10), ping_interval=None, **kwargs)


async def report(ws: ClientConnection, body: str = "hello") -> dict[str, dict[str, Any]]:
    """Both answers of the `report` function, keyed by how they arrived."""
    await ws.send(body)
    frames = [json.loads(await asyncio.wait_for(ws.recv(), scaled(10))) for _ in range(2)]
    return {frame["via"]: frame for frame in frames}


async def test_functions_reach_dynamodb_ssm_and_the_management_api(
    moto_server: MotoServer,
) -> None:
    async with local_stack(SERVICE, "dev", moto=moto_server) as stack:
        assert stack.ws_url == f"ws://127.0.0.1:{stack.port}/dev"
        assert stack.mgmt_url == f"http://127.0.0.1:{stack.port}/dev"
        async with await open_ws(f"{stack.ws_url}?token=let-me-in") as ws:
            answers = await report(ws)
        facts = answers["management-api"]
        assert facts["table"].startswith("wiring-dev-ItemsTable-")
        assert facts["indexes"] == ["byOwner"]
        assert facts["ttl"] == "expiresAt"
        assert facts["connections"] == 1
        assert facts["body"] == "hello"
        assert answers["route-response"] == {"via": "route-response"}


async def test_the_parameter_value_is_what_connect_checks(moto_server: MotoServer) -> None:
    async with local_stack(SERVICE, "dev", moto=moto_server) as stack:
        with pytest.raises(InvalidStatus) as refused:
            await open_ws(f"{stack.ws_url}?token=wrong")
        assert refused.value.response.status_code == 403


async def test_reset_empties_the_tables(moto_server: MotoServer) -> None:
    async with local_stack(SERVICE, "dev", moto=moto_server) as stack:
        first = await open_ws(f"{stack.ws_url}?token=let-me-in")
        assert (await report(first))["management-api"]["connections"] == 1
        await stack.reset()
        async with await open_ws(f"{stack.ws_url}?token=let-me-in") as second:
            assert (await report(second))["management-api"]["connections"] == 1
        await first.close()


async def test_tls_end_to_end(moto_server: MotoServer) -> None:
    async with local_stack(SERVICE, "dev", moto=moto_server) as stack:
        assert stack.ws_url.startswith("ws://")  # plain URLs by default...
        secure = stack.ws_url.replace("ws://", "wss://", 1)  # ...and TLS on the same port
        async with await open_ws(
            f"{secure}?token=let-me-in", ssl=stack.cert.client_context()
        ) as ws:
            assert (await report(ws))["management-api"]["connections"] == 1
        assert stack.ca.name == "ca.pem"  # clients trust the local CA, not one certificate
    async with local_stack(SERVICE, "dev", moto=moto_server, tls=True) as stack:
        assert stack.ws_url.startswith("wss://") and stack.mgmt_url.startswith("https://")


async def test_an_existing_dynamodb_keeps_its_tables_and_items(moto_server: MotoServer) -> None:
    await moto_server.reset()
    async with local_stack(SERVICE, "dev", moto=moto_server) as stack:
        table = stack.spec.tables[0]
    client = dynamodb_client(moto_server.endpoint, "eu-north-1", dummy_credentials=True)
    assert create_tables(client, [table]) == []  # already there
    client.put_item(TableName=table["TableName"], Item={"pk": {"S": "old"}, "owner": {"S": "me"}})
    async with local_stack(
        SERVICE, "dev", moto=moto_server, dynamodb_endpoint=moto_server.endpoint
    ) as stack:
        with pytest.raises(RuntimeError):
            await stack.reset()  # never wipes a database it does not own
        async with await open_ws(f"{stack.ws_url}?token=let-me-in") as ws:
            assert (await report(ws))["management-api"]["connections"] == 2


async def test_make_run_serves_and_stops_cleanly_on_ctrl_c() -> None:
    async with cli("--service", str(SERVICE), "--stage", "cli") as (output, proc):
        ws_url = banner_value(output, "WebSocket API")
        assert ws_url.startswith("ws://127.0.0.1:") and ws_url.endswith("/cli")
        async with await open_ws(f"{ws_url}?token=let-me-in") as ws:
            assert (await report(ws, "from the cli"))["management-api"]["body"] == "from the cli"
    text = "\n".join(output)
    assert proc.returncode == 0, text
    assert "Traceback" not in text
    # Everything it started is gone: the port refuses connections.
    with pytest.raises(OSError):
        await open_ws(f"{ws_url}?token=let-me-in")


async def test_another_service_hears_nothing_of_the_chat() -> None:
    """The emulator is generic: no chat banner, no chat page, for any other service."""
    echo = REPO / "tests" / "echo_service" / "serverless.yml"
    async with cli("--service", str(echo)) as (output, _):
        text = "\n".join(output)
        for chat_word in ("wschat", "chat", "token", "JWT", "Web client"):
            assert chat_word not in text
        http = banner_value(output, "WebSocket API").replace("ws://", "http://").rsplit("/", 1)[0]
        page = await asyncio.to_thread(_get, f"{http}/")
        assert page[0] == 404 and b"<html" not in page[1].lower()
        assert (await asyncio.to_thread(_get, f"{http}/dev/ping"))[0] == 200  # its REST route


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=scaled(10)) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()

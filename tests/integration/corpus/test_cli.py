"""A corpus service under `python -m infra --service <its file>`, with no other flag
than a free port: the command a user types for a service they bring."""

from __future__ import annotations

import json

from websockets.asyncio.client import connect

from tests.conftest import scaled
from tests.integration.corpus.conftest import CORPUS, recv
from tests.integration.infra_cli import banner_value, cli


async def test_sdk_chat_runs_from_the_command_line_as_it_is() -> None:
    async with cli("--service", str(CORPUS / "sdk_chat" / "serverless.yml")) as (output, proc):
        assert "websocket-chat (stage dev, region us-west-2) is up" in output
        ws_url = banner_value(output, "WebSocket API")
        async with (
            connect(f"{ws_url}?name=ann", open_timeout=scaled(20)) as ann,
            connect(f"{ws_url}?name=bob", open_timeout=scaled(20)) as bob,
        ):
            await ann.send(json.dumps({"action": "sendmessage", "msg": "from the cli"}))
            assert await recv(bob) == "ann: from the cli"
    assert proc.returncode == 0, "\n".join(output)
    assert "Traceback" not in "\n".join(output)

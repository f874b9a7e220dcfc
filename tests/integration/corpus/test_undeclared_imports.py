"""moto and requests are installed beside the harness, but a service that imports them
without declaring them fails as it would on AWS: Runtime.ImportModuleError, and the client
gets API Gateway's `Internal server error`."""

from __future__ import annotations

import moto
import requests

from infra.dynamo import MotoServer
from infra.stack import local_stack
from tests.integration.corpus.sockets import CORPUS, Logs, ask, open_ws

SERVICE = CORPUS / "undeclared_imports" / "serverless.yml"


async def test_undeclared_modules_are_missing_as_on_aws(moto_server: MotoServer) -> None:
    assert moto.__name__ and requests.__name__  # present for the harness itself
    logs = Logs()
    async with (
        local_stack(SERVICE, "dev", moto=moto_server, log=logs) as stack,
        await open_ws(stack.ws_url) as ws,
    ):
        for action, module in (("seed", "moto"), ("fetch", "requests")):
            reply = await ask(ws, {"action": action})
            assert reply["message"] == "Internal server error"
            assert (
                f"[ERROR] Runtime.ImportModuleError: Unable to import module '{action}': "
                f"No module named '{module}'"
            ) in logs.of(action)
        assert await ask(ws, {"action": "ping"}) == "pong"  # the rest of it runs

"""A service whose handlers/ folder has no __init__.py and holds modules named like
wschat's own (handlers/connect.py, handlers/message.py) runs its own code: nothing of the
harness's checkout is on the sandbox's path."""

from __future__ import annotations

from infra.dynamo import MotoServer, dynamodb_client
from infra.stack import local_stack
from tests.integration.corpus.sockets import CORPUS, ask, open_ws

SERVICE = CORPUS / "namespace_handlers" / "serverless.yml"


async def test_its_own_handlers_answer(moto_server: MotoServer) -> None:
    async with (
        local_stack(SERVICE, "dev", moto=moto_server, log=None) as stack,
        await open_ws(stack.ws_url) as alice,
        await open_ws(stack.ws_url),
    ):
        reply = await ask(alice, {"action": "sendmessage", "data": "hello"})
        assert reply["echo"] == "hello"
        assert reply["connections"] == 2  # its own connect handler stored both
        client = dynamodb_client(stack.dynamodb_endpoint, "us-east-1", dummy_credentials=True)
        items = client.scan(TableName="namespace-chat-dev-connections")["Items"]
        assert reply["you"] in {item["connectionId"]["S"] for item in items}

"""tests/corpus/cfn_websocket: a plain CloudFormation template (ApiGatewayV2 resources,
AWS::Lambda::Function with a local Code path)."""

from __future__ import annotations

import pytest
from websockets.exceptions import InvalidStatus

from infra.dynamodb import MotoServer
from infra.stack import local_stack
from tests.integration.corpus.conftest import CORPUS, ask, open_ws

TEMPLATE = CORPUS / "cfn_websocket" / "template.yaml"


async def test_the_route_response_carries_the_template_values(moto_server: MotoServer) -> None:
    async with local_stack(TEMPLATE, moto=moto_server) as stack:
        assert stack.stage == "production"  # the Stage's StageName, a parameter's Default
        async with await open_ws(f"{stack.ws_url}?token=open-sesame") as ws:
            reply = await ask(ws, {"action": "echo", "message": "hi"})
    assert reply["echo"] == "hi"
    assert reply["stage"] == reply["stageName"] == "production"
    assert reply["endpoint"] == f"wss://{reply['apiId']}.execute-api.us-east-1.amazonaws.com"
    assert reply["traced"] is False  # !If [Debugging, 'yes', !Ref AWS::NoValue]
    assert reply["function"] == "cfn-websocket-echo"


async def test_the_request_authorizer_refuses_a_wrong_token(moto_server: MotoServer) -> None:
    async with local_stack(TEMPLATE, moto=moto_server) as stack:
        with pytest.raises(InvalidStatus) as refused:
            await open_ws(f"{stack.ws_url}?token=wrong")
        assert refused.value.response.status_code == 403


async def test_default_without_a_route_response_sends_nothing(moto_server: MotoServer) -> None:
    async with (
        local_stack(TEMPLATE, moto=moto_server) as stack,
        await open_ws(f"{stack.ws_url}?token=open-sesame") as ws,
    ):
        await ws.send("plain text, no action")
        # Had $default a route response, its "unheard" would come first: the echo
        # reply (sent second) is the first frame.
        for message in ("after", "again"):
            assert (await ask(ws, {"action": "echo", "message": message}))["echo"] == message

"""tests/corpus/sls_short_tags: a serverless.yml written with CloudFormation short tags."""

from __future__ import annotations

import asyncio

from infra.dynamodb import MotoServer
from infra.stack import local_stack
from tests.integration.corpus.conftest import CORPUS, ask, http_get, open_ws

SERVICE = CORPUS / "sls_short_tags" / "serverless.yml"


async def test_short_tags_reach_the_function_as_deployed_values(moto_server: MotoServer) -> None:
    async with local_stack(SERVICE, moto=moto_server) as stack:
        assert stack.stage == "dev"  # provider.stage's ${opt:stage, 'dev'}, no --stage
        async with await open_ws(stack.ws_url) as ws:
            facts = await ask(ws, {"action": "whoami"})
    assert facts["ITEMS_TABLE"] == "shorttags-dev-items"  # !Ref of a !Sub-named table
    assert facts["ITEMS_TABLE_ARN"] == (
        "arn:aws:dynamodb:eu-west-1:123456789012:table/shorttags-dev-items"
    )
    assert facts["STACK"] == "shorttags-dev"
    assert facts["ITEMS_URL"] == "dynamodb/eu-west-1/shorttags-dev-items"
    assert facts["MODE"] == "development"  # !If on a Condition (!Equals on the stage)
    assert facts["FIRST_AZ"] == "eu-west-1a"
    assert facts["SECOND_WORD"] == "beta"
    assert facts["OWNER_ACCOUNT"] == "123456789012"  # #{AWS::AccountId}, with its plugin
    assert facts["API_ID"] == facts["apiId"]  # !Ref WebsocketsApi is this API
    assert facts["GREETER_ARN"].endswith(":function:shorttags-dev-hello-world")  # `name:`
    assert facts["functionName"] == "shorttags-dev-items"


async def test_the_table_named_by_a_short_tag_is_the_one_created(moto_server: MotoServer) -> None:
    async with (
        local_stack(SERVICE, moto=moto_server) as stack,
        await open_ws(stack.ws_url) as ws,
    ):
        assert await ask(ws, {"action": "put", "id": "a", "value": "1"}) == {"stored": "a"}
        got = await ask(ws, {"action": "get", "id": "a"})
    assert got == {"item": {"id": "a", "value": "1"}}


async def test_the_schedule_event_is_listed_as_ignored(moto_server: MotoServer) -> None:
    async with local_stack(SERVICE, moto=moto_server) as stack:
        assert stack.spec.ignored == (
            "functions.greeter.events[1] (schedule): not reproduced locally; "
            "nothing invokes greeter on this event",
        )


async def test_the_rest_route_answers_under_the_stage(moto_server: MotoServer) -> None:
    async with local_stack(SERVICE, moto=moto_server) as stack:
        status, body = await asyncio.to_thread(http_get, f"{stack.http_url}/dev/hello/ada")
    assert status == 200
    assert body == {"message": "Hello, ada!", "function": "shorttags-dev-hello-world"}

"""A service that packs its own boto3 1.26 (botocore 1.29, from before the
AWS_ENDPOINT_URL_<SERVICE> variables) still reaches the local DynamoDB, never AWS."""

from __future__ import annotations

from infra.dynamo import MotoServer
from infra.stack import local_stack
from tests.integration.corpus.sockets import CORPUS, ask, open_ws

SERVICE = CORPUS / "old_boto3" / "serverless.yml"


async def test_its_pinned_boto3_talks_to_the_local_dynamodb(moto_server: MotoServer) -> None:
    async with local_stack(SERVICE, "dev", moto=moto_server, log=None) as stack:
        async with await open_ws(stack.ws_url) as ws:
            reply = await ask(ws, "hello")
        assert (reply["boto3"], reply["botocore"]) == ("1.26.165", "1.29.165")
        assert reply["endpoint"] == stack.dynamodb_endpoint
        assert reply["connections"] == 1  # $connect's put_item landed in the same table

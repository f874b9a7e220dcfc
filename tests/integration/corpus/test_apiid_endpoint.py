"""tests/corpus/apiid_endpoint: the Management API reached at the API's AWS host name.

Tutorials and templates build `https://{apiId}.execute-api.{region}.amazonaws.com/{stage}`
(here with `Fn::Join` over `Ref: WebsocketsApi`, and from the event's `apiId`) and pass it
as an explicit `endpoint_url`, which beats AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI. In
the sandbox that name is the local gateway (TLS with the local CA), never AWS; any other
AWS host name, here SNS's, does not resolve and the function's log says why.
"""

from __future__ import annotations

import json

from tests.integration.corpus.conftest import RunCorpus, recv


async def test_the_api_host_name_from_the_template_reaches_the_local_gateway(
    run_corpus: RunCorpus,
) -> None:
    async with run_corpus("apiid_endpoint") as svc:
        endpoint = svc.stack.spec.functions["broadcast"].environment["APIG_ENDPOINT"]
        assert (
            endpoint.startswith("https://") and ".execute-api.eu-west-1.amazonaws.com/" in endpoint
        )
        ann = await svc.connect()
        bob = await svc.connect()
        await ann.send(json.dumps({"action": "broadcast", "data": "hello"}))
        assert (await recv(ann), await recv(bob)) == ("hello", "hello")


async def test_the_api_host_name_from_the_event_reaches_the_local_gateway(
    run_corpus: RunCorpus,
) -> None:
    async with run_corpus("apiid_endpoint") as svc:
        ann = await svc.connect()
        await ann.send(json.dumps({"action": "echo", "data": "ping"}))
        assert json.loads(await recv(ann)) == {"echo": "ping"}


async def test_a_service_the_harness_does_not_emulate_fails_in_the_sandbox(
    run_corpus: RunCorpus,
) -> None:
    async with run_corpus("apiid_endpoint") as svc:
        ann = await svc.connect()
        await ann.send(json.dumps({"action": "audit", "data": "x"}))
        assert json.loads(await recv(ann, 40)) == {"error": "EndpointConnectionError"}
        refused = [line for line in svc.logs if "sns.eu-west-1.amazonaws.com" in line]
        assert refused and "does not serve" in refused[0], svc.logs

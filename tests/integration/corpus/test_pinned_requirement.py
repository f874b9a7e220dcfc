"""requirements.txt is installed for the service (PyJWT 2.8.0 here, not the harness's
own PyJWT) and both its authorizer and its route handler import it."""

from __future__ import annotations

import jwt
import pytest
from websockets.exceptions import InvalidStatus

from infra.dynamo import MotoServer
from infra.stack import local_stack
from tests.integration.corpus.sockets import CORPUS, ask, open_ws

SERVICE = CORPUS / "pinned_requirement" / "serverless.yml"


async def test_the_pinned_version_runs(moto_server: MotoServer) -> None:
    assert jwt.__version__ != "2.8.0"  # the harness's own copy must not be what answers
    token = jwt.encode({"sub": "alice"}, "tutorial-secret", algorithm="HS256")
    async with local_stack(SERVICE, "dev", moto=moto_server, log=None) as stack:
        async with await open_ws(f"{stack.ws_url}?token={token}") as ws:
            reply = await ask(ws, "who am I?")
        assert reply == {"user": "alice", "pyjwt": "2.8.0", "authorizerPyjwt": "2.8.0"}
        with pytest.raises(InvalidStatus) as refused:
            await open_ws(f"{stack.ws_url}?token=forged")
        assert refused.value.response.status_code == 401

"""Each function runs on its declared Python when this machine has it, and says what ran:
`sys.version` and AWS_EXECUTION_ENV agree. A runtime that is not installed runs on the
harness's Python, with one warning at start naming the functions."""

from __future__ import annotations

import sys

from infra.awslambda import interpreters
from infra.dynamo import MotoServer
from infra.stack import local_stack
from tests.integration.corpus.sockets import CORPUS, ask, open_ws

SERVICE = CORPUS / "python_versions" / "serverless.yml"


async def test_each_function_reports_the_python_that_ran_it(moto_server: MotoServer) -> None:
    async with (
        local_stack(SERVICE, "dev", moto=moto_server, log=None) as stack,
        await open_ws(stack.ws_url) as ws,
    ):
        replies = {
            action: await ask(ws, {"action": action}) for action in ("legacy", "current", "latest")
        }
    for action, declared in (("legacy", (3, 9)), ("current", (3, 12)), ("latest", (3, 13))):
        found = await interpreters.find(declared)
        ran = declared if found is not None else sys.version_info[:2]
        reply = replies[action]
        assert tuple(reply["version_info"]) == ran, action
        assert reply["execution_env"] == f"AWS_Lambda_python{ran[0]}.{ran[1]}"
        assert reply["boto3"]  # the runtime's boto3, on every version
        missing = [w for w in stack.runtime.warnings if w.startswith(f"python{declared[0]}.")]
        if found is None:
            assert missing == [
                f"python{declared[0]}.{declared[1]} is not installed here: {action} runs on "
                f"python{ran[0]}.{ran[1]} instead"
            ]
        else:
            assert missing == []

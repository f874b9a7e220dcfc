"""The Lambda model: warm, isolated sandboxes with Lambda's error and timeout semantics."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

from infra.awslambda.runtime import LambdaRuntime
from tests.integration.runtime.conftest import SERVICE, Logs


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_a_warm_sandbox_is_reused(runtime: LambdaRuntime) -> None:
    first = await runtime.invoke("echo", {"n": 1})
    second = await runtime.invoke("echo", {"n": 2})
    assert first.ok and second.ok
    assert first.result["pid"] == second.result["pid"]
    assert (first.result["invocations"], second.result["invocations"]) == (1, 2)
    assert second.result["event"] == {"n": 2}


async def test_functions_are_isolated_with_their_own_environment(runtime: LambdaRuntime) -> None:
    os.environ["WSCHAT_HARNESS_ONLY"] = "must not leak"
    try:
        echo, other = await asyncio.gather(runtime.invoke("echo", {}), runtime.invoke("other", {}))
    finally:
        del os.environ["WSCHAT_HARNESS_ONLY"]
    assert echo.result["pid"] != other.result["pid"]
    e, o = echo.result["env"], other.result["env"]
    assert (e["WHO"], o["WHO"]) == ("echo", "other")
    assert (e["SHARED"], o["SHARED"]) == ("from-provider", "overridden")
    assert "WSCHAT_HARNESS_ONLY" not in e
    assert "PYTHONPATH" not in e
    assert e["AWS_REGION"] == e["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert e["AWS_LAMBDA_FUNCTION_NAME"] == "rt-test-echo"
    assert e["AWS_ACCESS_KEY_ID"] == "testing"
    assert e["AWS_ENDPOINT_URL_DYNAMODB"] == "http://127.0.0.1:9"
    assert e["_HANDLER"] == "fns/probe.echo"
    assert Path(echo.result["cwd"]) == SERVICE.resolve()


async def test_the_context_object(runtime: LambdaRuntime) -> None:
    a = await runtime.invoke("echo", {})
    b = await runtime.invoke("echo", {})
    ctx = a.result["context"]
    assert uuid.UUID(ctx["aws_request_id"])
    assert ctx["aws_request_id"] != b.result["context"]["aws_request_id"]
    assert ctx["function_name"] == "rt-test-echo"
    assert ctx["function_version"] == "$LATEST"
    assert ctx["memory_limit_in_mb"] == "256"  # a string on AWS too
    assert ctx["invoked_function_arn"] == (
        "arn:aws:lambda:eu-west-1:123456789012:function:rt-test-echo"
    )
    assert ctx["log_group_name"] == "/aws/lambda/rt-test-echo"
    assert "[$LATEST]" in ctx["log_stream_name"]
    assert 0 < ctx["remaining_ms"] <= 3000


async def test_timeout_kills_the_sandbox_and_a_new_one_serves_next(
    runtime: LambdaRuntime, logs: Logs
) -> None:
    warm = await runtime.invoke("sleepy", {"seconds": 0})
    pid = warm.result["pid"]
    outcome = await runtime.invoke("sleepy", {"seconds": 30})
    assert not outcome.ok and outcome.timed_out
    assert outcome.error_type == "Sandbox.Timedout"
    assert outcome.error_message == "Task timed out after 1.00 seconds"
    assert runtime.sandbox_pids("sleepy") == []
    after = await runtime.invoke("sleepy", {"seconds": 0})
    assert after.ok and after.result["pid"] != pid


async def test_a_raise_is_an_error_with_type_and_message(
    runtime: LambdaRuntime, logs: Logs
) -> None:
    outcome = await runtime.invoke("boom", {})
    assert (outcome.ok, outcome.error_type, outcome.error_message) == (
        False,
        "Exception",
        "Unauthorized",
    )
    outcome = await runtime.invoke("boom", {"key": True})
    assert (outcome.error_type, outcome.error_message) == ("KeyError", "'missing-thing'")
    # The traceback goes to the function's log, as on CloudWatch.
    await logs.wait_for("boom", "KeyError: 'missing-thing'")


async def test_a_raise_keeps_the_sandbox_warm(runtime: LambdaRuntime) -> None:
    await runtime.invoke("boom", {})
    (pid,) = runtime.sandbox_pids("boom")
    await runtime.invoke("boom", {})
    assert runtime.sandbox_pids("boom") == [pid]


async def test_returning_none_is_success(runtime: LambdaRuntime) -> None:
    outcome = await runtime.invoke("nothing", {})
    assert outcome.ok and outcome.result is None and outcome.error_type is None


async def test_decimals_are_returned_as_numbers(runtime: LambdaRuntime) -> None:
    outcome = await runtime.invoke("decimals", {})
    assert outcome.ok and outcome.result == {"count": 5, "ratio": 1.5}
    assert isinstance(outcome.result["count"], int)


async def test_a_result_that_is_not_json_is_a_marshal_error(runtime: LambdaRuntime) -> None:
    outcome = await runtime.invoke("unmarshalable", {})
    assert not outcome.ok
    assert outcome.error_type == "Runtime.MarshalError"
    assert outcome.error_message == (
        "Unable to marshal response: Object of type set is not JSON serializable"
    )


async def test_a_crash_is_an_error_and_the_sandbox_is_replaced(runtime: LambdaRuntime) -> None:
    outcome = await runtime.invoke("crash", {})
    assert not outcome.ok and not outcome.timed_out
    assert outcome.error_type == "Runtime.ExitError"
    assert outcome.error_message is not None
    assert outcome.error_message.endswith("Runtime exited with error: exit status 3")
    assert runtime.sandbox_pids("crash") == []


async def test_an_import_error_is_reported_like_lambda(runtime: LambdaRuntime) -> None:
    outcome = await runtime.invoke("broken", {})
    assert not outcome.ok
    assert outcome.error_type == "Runtime.ImportModuleError"
    assert outcome.error_message == (
        "Unable to import module 'fns/missing': No module named 'fns.missing'"
    )


async def test_an_unknown_function_is_an_error(runtime: LambdaRuntime) -> None:
    outcome = await runtime.invoke("nope", {})
    assert not outcome.ok and outcome.error_type == "ResourceNotFoundException"


async def test_handler_output_goes_to_the_log_not_the_result(
    runtime: LambdaRuntime, logs: Logs
) -> None:
    outcome = await runtime.invoke("echo", {"say": "hello log"})
    assert outcome.ok and outcome.result["event"] == {"say": "hello log"}
    await logs.wait_for("echo", "echo says hello log")
    await logs.wait_for("echo", "to stderr")
    # The stdlib root logger writes Lambda's format: level, time, request id, message.
    request_id = outcome.result["context"]["aws_request_id"]
    line = await logs.wait_for_line("echo", lambda text: "via logging" in text)
    level, _, rid, message = line.split("\t")
    assert (level, rid, message) == ("[WARNING]", request_id, "via logging")


async def test_reserved_concurrency_caps_parallel_sandboxes(runtime: LambdaRuntime) -> None:
    outcomes = await asyncio.gather(*(runtime.invoke("capped", {"seconds": 0.3}) for _ in range(5)))
    assert all(o.ok for o in outcomes)
    assert len({o.result["pid"] for o in outcomes}) == 2
    # Never more than two running at once: the other invocations queued.
    edges = sorted(
        [(o.result["started"], 1) for o in outcomes] + [(o.result["ended"], -1) for o in outcomes]
    )
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    assert peak == 2


async def test_close_stops_every_sandbox(runtime: LambdaRuntime) -> None:
    results = await asyncio.gather(runtime.invoke("echo", {}), runtime.invoke("other", {}))
    pids = [r.result["pid"] for r in results]
    assert all(alive(pid) for pid in pids)
    await runtime.close()
    assert not any(alive(pid) for pid in pids)


async def test_warming_to_the_cap_starts_that_many_sandboxes_once(runtime: LambdaRuntime) -> None:
    await runtime.warm("echo", sandboxes=3)
    pids = runtime.sandbox_pids("echo")
    assert len(pids) == 3 and all(alive(p) for p in pids)
    await runtime.warm("echo", sandboxes=3)  # already warm: nothing more starts
    assert runtime.sandbox_pids("echo") == pids
    await runtime.warm("echo", sandboxes=99)  # never past the function's concurrency (4)
    assert len(runtime.sandbox_pids("echo")) == 4
    results = await asyncio.gather(*(runtime.invoke("echo", {"n": i}) for i in range(4)))
    assert {r.result["pid"] for r in results} <= set(runtime.sandbox_pids("echo"))
    assert all(r.result["invocations"] == 1 for r in results)  # each warm sandbox served one

"""The packaged zips on python3.12, through the local gateway over real sockets: the
authorizer, $connect, every action, publish, the hand-off to `fanout`, $disconnect."""

from __future__ import annotations

import asyncio
import re
import subprocess
import zipfile
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.artifact.conftest import SHARD_SIZE, Artifact, Packaged, packaged_stack, without
from tests.conftest import scaled
from tests.tokens import chat_token
from tests.wire import Peer, bearer, open_peer, publish, unique


async def test_the_functions_run_the_zips_on_python312(
    artifact: Artifact, packaged: Packaged
) -> None:
    runtime = packaged.stack.runtime
    layer = artifact.template["Resources"]["DepsLambdaLayer"]["Properties"]
    assert layer["CompatibleArchitectures"] == [artifact.architecture]
    with zipfile.ZipFile(artifact.function_zip) as zf:
        zipped = set(zf.namelist())
    for name in packaged.stack.spec.functions:
        interpreter, package = runtime.interpreter(name), runtime.package(name)
        assert interpreter is not None and package is not None, name
        assert interpreter.version == (3, 12), name
        # /var/task is the unpacked function zip (its bytecode included), not the checkout.
        task = package.task_root
        assert {str(p.relative_to(task)) for p in task.rglob("*") if p.is_file()} >= zipped
        assert not (task / "serverless.yml").exists()
        # /opt/python is the unpacked layer; the runtime's boto3 comes after the stdlib.
        assert any((Path(p) / "jwt").is_dir() for p in package.front), name
        assert any((Path(p) / "boto3").is_dir() for p in package.back), name


async def test_every_module_of_the_zips_loads_from_their_python312_bytecode(
    packaged: Packaged,
) -> None:
    # /var/task and /opt are read-only on Lambda: a module whose .pyc is missing, made by
    # another Python or invalidated by the zip's timestamps compiles at every cold start.
    runtime = packaged.stack.runtime
    for name, fn in packaged.stack.spec.functions.items():
        interpreter, package = runtime.interpreter(name), runtime.package(name)
        assert interpreter is not None and package is not None, name
        module = fn.handler.rpartition(".")[0].replace("/", ".")
        code = (
            f"import sys; sys.path[:0] = {[str(p) for p in package.front]!r}; "
            f"sys.path += {[str(p) for p in package.back]!r}; import {module}"
        )
        env = {"PATH": "/usr/bin:/bin", **fn.environment, "AWS_REGION": "us-east-1"}
        done = await asyncio.to_thread(
            subprocess.run,
            [interpreter.executable, "-I", "-B", "-v", "-c", code],
            env=env,
            cwd=package.task_root,
            capture_output=True,
            text=True,
            check=True,
        )
        shipped = [str(p) for p in package.front]
        loaded = re.findall(r"^# code object from '?([^'\n]+)'?$", done.stderr, re.M)
        ours = [path for path in loaded if path.startswith(tuple(shipped))]
        assert ours and all(path.endswith(".cpython-312.pyc") for path in ours), (
            name,
            [path for path in ours if not path.endswith(".pyc")],
        )


async def test_a_bad_token_is_refused_by_the_packaged_authorizer(packaged: Packaged) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"{packaged.stack.ws_url}?token=not-a-jwt", open_timeout=scaled(30)):
            pass
    assert refused.value.response.status_code == 401


async def test_a_chat_session_runs_every_action(packaged: Packaged) -> None:
    stack, room = packaged.stack, unique("room")
    alice_id, bob_id = unique("alice"), unique("bob")
    alice = await open_peer(stack, alice_id, "Alice")
    bob = await open_peer(stack, bob_id, "Bob")
    try:
        joined = await alice.call("join", room=room)
        assert joined["room"] == room
        await bob.call("join", room=room)
        await alice.expect("presence", room=room, event="join")
        members = await alice.call("members", room=room)
        assert {m["id"] for m in members["members"]} == {alice_id, bob_id}

        sent = await alice.call("send", room=room, text="hello from the zip", clientMsgId="c1")
        got = await bob.expect("message", room=room, id=sent["id"])
        assert got["text"] == "hello from the zip" and got["from"]["id"] == alice_id
        history = await bob.call("history", room=room)
        assert [m["id"] for m in history["messages"]] == [sent["id"]]

        note = await alice.call("direct", to=bob_id, text="psst")
        assert (await bob.expect("direct", id=note["id"]))["text"] == "psst"
        assert (await bob.call("whoami"))["rooms"] == [room]
        await bob.call("ping")
        unknown = await bob.refused("dance")
        assert unknown["code"] == "unknown_action"

        # The publish API: its own authorizer, the publish function, the same fan-out.
        status, body = await publish(
            stack,
            room,
            {"text": "from the server"},
            headers=bearer(chat_token(stack, "dashboard", scopes=("publish",))),
        )
        assert status == 202, body
        for peer in (alice, bob):
            await peer.expect("message", room=room, id=body["id"])

        await bob.call("leave", room=room)
        await alice.expect("presence", room=room, event="leave")
        await bob.call("join", room=room)
        await alice.expect("presence", room=room, event="join")
    finally:
        await bob.close()
    # $disconnect: bob's memberships go, and the room hears of it.
    await alice.expect("presence", room=room, event="leave", seconds=scaled(20))
    members = await alice.call("members", room=room)
    assert [m["id"] for m in members["members"]] == [alice_id]
    await alice.close()
    assert not [r for r in packaged.invocations.reports if not r.ok and r.function != "authorizer"]


async def test_a_large_room_hands_shards_to_the_fanout_function(packaged: Packaged) -> None:
    stack, room, user = packaged.stack, unique("crowd"), unique("crowd")
    size = SHARD_SIZE + 3
    crowd: list[Peer] = list(await asyncio.gather(*(open_peer(stack, user) for _ in range(size))))
    try:
        await asyncio.gather(*(c.call("join", room=room) for c in crowd))
        before = len(packaged.invocations.of("fanout"))
        sent = await crowd[0].call("send", room=room, text="to all of you")
        await asyncio.gather(*(c.expect("message", room=room, id=sent["id"]) for c in crowd[1:]))
        # The report comes when the invocation ends, just after its posts arrived.
        handed = await packaged.invocations.more_of("fanout", before, scaled(10))
        assert all(r.ok for r in handed)
    finally:
        await asyncio.gather(*(c.close() for c in crowd))


async def test_a_layer_missing_a_library_fails_as_on_aws(
    artifact: Artifact, tmp_path: Path
) -> None:
    # PyJWT gone from the layer: the authorizer cannot import, the handshake fails.
    broken = without(artifact.layer_zip, "jwt", tmp_path / "layer-without-jwt.zip")
    async with packaged_stack(artifact.function_zip, broken) as running:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(
                f"{running.stack.ws_url}?token={chat_token(running.stack, 'alice')}",
                open_timeout=scaled(30),
            ):
                pass
        assert refused.value.response.status_code == 500
        (failed,) = running.invocations.of("authorizer")
        assert not failed.ok
        assert failed.error_type == "Runtime.ImportModuleError"
        assert "jwt" in (failed.error_message or "")

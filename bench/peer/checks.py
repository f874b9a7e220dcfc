"""Correctness probes run against either emulator: what a user would trip over.

Each returns a short dict: what happened, and whether it is what AWS does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bench.harness import handler_store
from client import protocol
from client.tokens import mint_token
from infra.apigateway.ids import new_id


def _store(dynamodb_endpoint: str) -> Any:
    return handler_store(dynamodb_endpoint)[0]


async def _open(url: str, token: str, timeout_s: float = 30) -> ClientConnection:
    return await connect(
        protocol.with_token(url, token), open_timeout=timeout_s, ping_interval=None
    )


async def _next(ws: ClientConnection, kind: str, timeout_s: float) -> dict[str, Any] | None:
    """The next frame of type `kind` (others skipped), or None after `timeout_s`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while (left := deadline - loop.time()) > 0:
        try:
            frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), left))
        except (TimeoutError, ConnectionClosed):
            return None
        if frame.get("type") == kind:
            return frame
    return None


async def first_connect(url: str, secret: str, timeout_s: float = 40) -> dict[str, Any]:
    """One connection with a valid token: the handshake status and how long it took."""
    t0 = time.perf_counter()
    try:
        ws = await _open(url, mint_token("probe", secret=secret), timeout_s)
    except InvalidStatus as exc:
        return {"outcome": f"HTTP {exc.response.status_code}", "s": time.perf_counter() - t0}
    except TimeoutError:
        return {"outcome": f"no answer in {timeout_s:g} s", "s": time.perf_counter() - t0}
    except OSError as exc:
        return {"outcome": f"{type(exc).__name__}", "s": time.perf_counter() - t0}
    await ws.close()
    return {"outcome": "101 open", "s": round(time.perf_counter() - t0, 3)}


async def stale_member(url: str, secret: str, dynamodb_endpoint: str) -> dict[str, Any]:
    """A membership whose connection vanished without $disconnect: the next fan-out into
    the room gets 410 and must delete it (AWS: GoneException, cleaned)."""
    room = f"stale-{secrets.token_hex(3)}"
    a = await _open(url, mint_token("stale-a", secret=secret))
    b = await _open(url, mint_token("stale-b", secret=secret))
    try:
        for ws in (a, b):
            await ws.send(protocol.encode(protocol.join(room)))
            if await _next(ws, "joined", 30) is None:
                return {"ok": False, "outcome": "join failed"}
        store = _store(dynamodb_endpoint)
        ghost = new_id()
        now = int(time.time() * 1000)
        from handlers.chat.model import User

        ghost_user = User(id="ghost", name="ghost")
        await asyncio.to_thread(store.put_connection, ghost, ghost_user, now)
        await asyncio.to_thread(store.add_membership, ghost, ghost_user, room, now)
        frame = {"action": "send", "room": room, "text": "anyone?", "clientMsgId": "s1"}
        await a.send(protocol.encode(frame))
        ack = await _next(a, "message", 30)
        got = await _next(b, "message", 30)
        members = await asyncio.to_thread(store.room_members, room, int(time.time() * 1000))
        still = any(m.connection_id == ghost for m in members)
        return {
            "ok": ack is not None and got is not None and not still,
            "outcome": (
                f"sender ack {'yes' if ack else 'no'}, live member got it "
                f"{'yes' if got else 'no'}, stale membership "
                f"{'still there' if still else 'removed'}"
            ),
        }
    finally:
        await a.close()
        await b.close()


async def clean_close_leaves_room(url: str, secret: str, dynamodb_endpoint: str) -> dict[str, Any]:
    """A client that closes normally: $disconnect must remove its membership."""
    room = f"close-{secrets.token_hex(3)}"
    ws = await _open(url, mint_token("closer", secret=secret))
    await ws.send(protocol.encode(protocol.join(room)))
    if await _next(ws, "joined", 30) is None:
        await ws.close()
        return {"ok": False, "outcome": "join failed"}
    await ws.close()
    store = _store(dynamodb_endpoint)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    members: list[Any] = []
    while loop.time() < deadline:
        members = await asyncio.to_thread(store.room_members, room, int(time.time() * 1000))
        if not members:
            return {"ok": True, "outcome": "membership removed by $disconnect"}
        await asyncio.sleep(0.2)  # polling DynamoDB for the $disconnect handler's delete
    return {"ok": False, "outcome": f"{len(members)} membership(s) left 15 s after the close"}


def unknown_id_get(mgmt_url: str) -> dict[str, Any]:
    """GET @connections/{unknown id} through boto3: AWS answers 410 GoneException."""
    import boto3
    from botocore.exceptions import ClientError, EndpointConnectionError

    client = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=mgmt_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    try:
        client.get_connection(ConnectionId=new_id())
    except EndpointConnectionError as exc:  # as the WebSocket probes report a refusal
        return {"ok": False, "outcome": f"could not connect: {exc}"}
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        status = exc.response["ResponseMetadata"]["HTTPStatusCode"]
        return {"ok": code == "GoneException", "outcome": f"HTTP {status}, boto3 code {code!r}"}
    return {"ok": False, "outcome": "200 for a connection that never existed"}


async def none_result(url: str, timeout_s: float = 12) -> dict[str, Any]:
    """The echo service's `nothing` route returns None (fine on AWS: nothing is sent).
    Then `echo` on the same connection must answer at once."""
    ws = await _open(url, "ok")
    try:
        t0 = time.perf_counter()
        await ws.send('{"action":"nothing"}')
        extra: list[str] = []
        with contextlib.suppress(TimeoutError, ConnectionClosed):
            extra.append(str(await asyncio.wait_for(ws.recv(), 2)))
        t1 = time.perf_counter()
        await ws.send('{"action":"echo","x":1}')
        reply = None
        with contextlib.suppress(TimeoutError, ConnectionClosed):
            while reply is None:
                raw = str(await asyncio.wait_for(ws.recv(), timeout_s))
                if '"route"' in raw:
                    reply = raw
                else:
                    extra.append(raw)
        t2 = time.perf_counter()
        # A second None on the same function: does it block the next call of it?
        await ws.send('{"action":"nothing"}')
        await ws.send('{"action":"nothing"}')
        ok = not extra and reply is not None
        return {
            "ok": ok,
            "outcome": (
                f"frames after None: {extra or 'none'}; echo answered "
                f"{'in %.2f s' % (t2 - t1) if reply else 'never'}"
            ),
            "s": round(t1 - t0, 2),
        }
    finally:
        await ws.close()

"""The token attack set on the WebSocket handshake (the $connect authorizer).

protocol.md: missing token → 401; bad signature, expired, `alg: none`, any algorithm but
HS256 → 401; a genuine token that is denied (a subject that cannot be a chat user) → 403.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from infra.stack import LocalStack
from tests.conftest import scaled
from tests.tokens import chat_secret, chat_token


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def claims(sub: str = "mallory", **extra: Any) -> dict[str, Any]:
    return {"sub": sub, "exp": int(time.time()) + 300, **extra}


def tampered(token: str, **changes: Any) -> str:
    """The same signature over a payload the attacker edited."""
    header, payload, signature = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return ".".join((header, b64({**body, **changes}), signature))


def unsigned(alg: str) -> str:
    return f"{b64({'alg': alg, 'typ': 'JWT'})}.{b64(claims('admin'))}."


async def handshake_status(stack: LocalStack, query: str, **kwargs: Any) -> int:
    """The HTTP status of the handshake: 101 when the socket opened."""
    try:
        async with connect(f"{stack.ws_url}{query}", open_timeout=scaled(30), **kwargs) as ws:
            await ws.send(json.dumps({"action": "ping"}))
            assert json.loads(await ws.recv()) == {"type": "pong"}
            return 101
    except InvalidStatus as refused:
        return refused.response.status_code


def attacks(secret: str) -> dict[str, str]:
    now = int(time.time())
    genuine = jwt.encode(claims("eve"), secret, algorithm="HS256")
    return {
        "no query string": "",
        "no token parameter": "?other=1",
        "empty token": "?token=",
        "garbage": "?token=not.a.jwt",
        "expired": "?token=" + jwt.encode(claims(exp=now - 60), secret, algorithm="HS256"),
        "no exp": "?token=" + jwt.encode({"sub": "mallory"}, secret, algorithm="HS256"),
        "not yet valid": "?token=" + jwt.encode(claims(nbf=now + 3600), secret, algorithm="HS256"),
        "tampered sub": "?token=" + tampered(genuine, sub="admin"),
        "tampered exp": "?token=" + tampered(genuine, exp=now + 10**6),
        "alg none": "?token=" + unsigned("none"),
        "alg None": "?token=" + unsigned("None"),
        "wrong secret": "?token=" + jwt.encode(claims(), "x" * 40, algorithm="HS256"),
        "HS512, right secret": "?token=" + jwt.encode(claims(), secret, algorithm="HS512"),
        "HS384, right secret": "?token=" + jwt.encode(claims(), secret, algorithm="HS384"),
        # RS256 with the HMAC secret as the "public key": no JWKS is configured here.
        "RS256 header, HMAC body": "?token="
        + ".".join((b64({"alg": "RS256", "typ": "JWT"}), *genuine.split(".")[1:])),
        "no sub": "?token=" + jwt.encode({"exp": now + 300}, secret, algorithm="HS256"),
        "blank sub": "?token=" + jwt.encode(claims("  "), secret, algorithm="HS256"),
    }


async def test_a_genuine_token_opens_the_socket(stack: LocalStack) -> None:
    assert await handshake_status(stack, f"?token={chat_token(stack, 'eve')}") == 101


# Forging HS384/HS512 tokens with the service secret is the point: PyJWT warns.
@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_every_forged_or_broken_token_is_refused_with_401(stack: LocalStack) -> None:
    statuses = {
        why: await handshake_status(stack, q) for why, q in attacks(chat_secret(stack)).items()
    }
    assert statuses == dict.fromkeys(statuses, 401)


async def test_an_oversized_token_is_refused_before_anything_runs(stack: LocalStack) -> None:
    # Past the request-line limit the handshake itself is refused (414), as a URL that
    # long would be on AWS; either way no socket opens.
    status = await handshake_status(stack, "?token=" + "a" * 9000)
    assert 400 <= status < 500


async def test_a_token_in_the_authorization_header_is_not_the_identity_source(
    stack: LocalStack,
) -> None:
    header = {"Authorization": f"Bearer {chat_token(stack, 'eve')}"}
    assert await handshake_status(stack, "", additional_headers=header) == 401


@pytest.mark.parametrize(
    "sub",
    ["x" * 129, "eve\x00admin", "eve\nadmin", "\u202eevil", "eve\x1b[31m"],
    ids=["too long", "NUL", "newline", "bidi override", "escape sequence"],
)
async def test_a_genuine_token_with_an_unusable_subject_is_403(stack: LocalStack, sub: str) -> None:
    token = jwt.encode(claims(sub), chat_secret(stack), algorithm="HS256")
    assert await handshake_status(stack, f"?token={token}") == 403

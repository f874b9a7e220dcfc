"""POST /rooms/{room}/messages: a bearer token with the `publish` scope, or nothing.

401 without a token or with a bad one, 403 for a genuine token without the scope; the
publisher is the token's subject, whatever the body claims.
"""

from __future__ import annotations

import time

import jwt
import pytest

from infra.stack import LocalStack
from tests.tokens import chat_secret, chat_token
from tests.wire import bearer, open_peer, publish, unique


def signed(secret: str, **claims: object) -> str:
    return jwt.encode(
        {"sub": "pub", "exp": int(time.time()) + 300, **claims}, secret, algorithm="HS256"
    )


# Forging HS384/HS512 tokens with the service secret is the point: PyJWT warns.
@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_publish_refuses_missing_and_bad_tokens_with_401(stack: LocalStack) -> None:
    feed = unique("feed:x")
    s = chat_secret(stack)
    now = int(time.time())
    good = signed(s, scope="publish")
    header, payload, _ = good.split(".")
    refused = {
        "no header": {},
        "empty bearer": {"Authorization": "Bearer "},
        "basic scheme": {"Authorization": f"Basic {good}"},
        "bare token": {"Authorization": good},
        "garbage": bearer("not-a-token"),
        "wrong secret": bearer(signed("y" * 40, scope="publish")),
        "expired": bearer(signed(s, scope="publish", exp=now - 60)),
        "HS512": bearer(
            jwt.encode({"sub": "pub", "exp": now + 60, "scope": "publish"}, s, "HS512")
        ),
        "alg none": bearer(
            jwt.utils.base64url_encode(b'{"alg":"none","typ":"JWT"}').decode() + f".{payload}."
        ),
        "signature cut": bearer(f"{header}.{payload}."),
    }
    statuses = {
        why: (await publish(stack, feed, {"text": "x"}, h))[0] for why, h in refused.items()
    }
    assert statuses == dict.fromkeys(statuses, 401)


async def test_the_token_must_be_in_the_header_not_the_query(stack: LocalStack) -> None:
    token = signed(chat_secret(stack), scope="publish")
    status, _ = await publish(stack, unique("feed:x"), {"text": "x"}, query=f"token={token}")
    assert status == 401


async def test_publish_needs_the_publish_scope_exactly(stack: LocalStack) -> None:
    feed = unique("feed:x")
    s = chat_secret(stack)
    for scope in (None, "", "read", "publisher", "publish:all", "Publish", ["publisher"]):
        claims = {} if scope is None else {"scope": scope}
        status, _ = await publish(stack, feed, {"text": "x"}, bearer(signed(s, **claims)))
        assert status == 403, scope
    for scope in ("publish", "read publish", ["read", "publish"]):
        status, body = await publish(stack, feed, {"text": "x"}, bearer(signed(s, scope=scope)))
        assert status == 202, (scope, body)


async def test_the_publisher_is_the_tokens_subject_whatever_the_body_says(
    stack: LocalStack,
) -> None:
    feed = unique("feed:x")
    reader = await open_peer(stack, unique("reader"))
    await reader.call("join", room=feed)
    token = chat_token(stack, "ticker", "Ticker", scopes=("publish",))
    body = {"text": "hi", "from": {"id": "admin", "name": "Admin"}, "user": "admin"}
    status, answer = await publish(stack, feed, body, bearer(token))
    assert status == 202
    message = await reader.expect("message", id=answer["id"])
    assert message["from"] == {"id": "ticker", "name": "Ticker"}

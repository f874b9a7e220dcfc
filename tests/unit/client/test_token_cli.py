"""`python -m client.token`: the dev token the harness banner tells users to mint."""

from __future__ import annotations

import time

import jwt
import pytest

from client.token import main
from client.tokens import DEV_JWT_SECRET


def test_prints_a_token_the_local_stack_accepts(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CHAT_JWT_SECRET", raising=False)
    assert main(["alice", "--name", "Alice", "--scope", "publish", "--ttl", "60"]) == 0
    token = capsys.readouterr().out.strip()
    claims = jwt.decode(token, DEV_JWT_SECRET, algorithms=["HS256"])
    assert (claims["sub"], claims["name"], claims["scope"]) == ("alice", "Alice", "publish")
    assert 55 <= claims["exp"] - time.time() <= 60


def test_uses_the_secret_from_the_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAT_JWT_SECRET", "a-secret-of-at-least-thirty-two-bytes!!")
    main(["bob"])
    token = capsys.readouterr().out.strip()
    claims = jwt.decode(token, "a-secret-of-at-least-thirty-two-bytes!!", algorithms=["HS256"])
    assert claims["sub"] == "bob" and "scope" not in claims
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, DEV_JWT_SECRET, algorithms=["HS256"])

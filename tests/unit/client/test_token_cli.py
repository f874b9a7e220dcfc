"""`python -m client.token`: the dev token the harness banner tells users to mint."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest

from client import tokens
from client.token import main, parser
from client.tokens import DEV_JWT_SECRET


@pytest.fixture(autouse=True)
def no_running_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where a running `make run` would write its secret: empty here, whether or not a
    stack runs in this checkout while the tests do."""
    path = tmp_path / ".local" / "secrets.env"
    monkeypatch.setattr(tokens, "RUN_SECRETS", path)
    return path


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


def test_signs_with_the_running_stacks_secret_as_the_banner_says(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, no_running_stack: Path
) -> None:
    monkeypatch.delenv("CHAT_JWT_SECRET", raising=False)
    no_running_stack.parent.mkdir()
    no_running_stack.write_text("CHAT_JWT_SECRET=this-runs-secret-of-at-least-32-bytes\n")
    main(["carol"])
    token = capsys.readouterr().out.strip()
    claims = jwt.decode(token, "this-runs-secret-of-at-least-32-bytes", algorithms=["HS256"])
    assert claims["sub"] == "carol"
    assert ".local/secrets.env" in parser().format_help().replace("\n", " ")

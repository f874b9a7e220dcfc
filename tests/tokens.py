"""Chat tokens for tests that run wschat's serverless.yml in a local stack.

The stack itself knows nothing of tokens: it only makes up (or takes) the secrets the
service declares in `custom.local.secrets`; the chat signs with CHAT_JWT_SECRET.
"""

from __future__ import annotations

from collections.abc import Iterable

from client.tokens import SECRET_ENV, mint_token
from infra.stack import LocalStack


def chat_secret(stack: LocalStack) -> str:
    """The JWT secret this stack's chat verifies tokens with."""
    return stack.secrets[SECRET_ENV]


def chat_token(
    stack: LocalStack, sub: str, name: str | None = None, scopes: Iterable[str] = ()
) -> str:
    """A token the stack's chat accepts for user `sub`."""
    return mint_token(sub, name=name, secret=chat_secret(stack), scopes=scopes)

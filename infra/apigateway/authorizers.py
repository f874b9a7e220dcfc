"""Turning a Lambda authorizer's outcome into API Gateway's decision.

Both the WebSocket REQUEST authorizer and the HTTP API authorizer follow the same rules:
an identity source that is missing short-circuits to 401 without invoking anything; an
authorizer that raises ``Exception("Unauthorized")`` means 401; a Deny (or
``isAuthorized: false``) means 403; anything malformed or any other error means 500.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from infra.service import Invocation

_CONTEXT_TYPES = (str, int, float, bool)


@dataclass(frozen=True)
class Verdict:
    status: int | None  # None: allowed; else the HTTP status of the refusal
    principal_id: str | None = None
    context: Mapping[str, Any] | None = None

    @property
    def allowed(self) -> bool:
        return self.status is None


UNAUTHORIZED = Verdict(401)
FORBIDDEN = Verdict(403)
ERROR = Verdict(500)


def identity_values(
    sources: Sequence[str],
    headers: Sequence[tuple[str, str]],
    query: Sequence[tuple[str, str]],
) -> list[str] | None:
    """The value of each identity source, or None when one is missing or empty (then
    API Gateway answers 401 without invoking the authorizer).

    Sources as each API writes them: ``route.request.querystring.token`` (WebSocket),
    ``$request.header.Authorization`` (HTTP API), ``method.request.header.Auth`` (REST).
    Header names match case-insensitively; repeated headers or query parameters are
    joined with commas, as HTTP APIs pass them. Context and stage-variable sources are
    not reproduced: they count as present."""
    values: list[str] = []
    for source in sources:
        kind, name = _source(source)
        if kind == "header":
            value = _joined((n.lower(), v) for n, v in headers).get(name.lower())
        elif kind == "querystring":
            value = _joined(query).get(name)
        else:
            continue
        if not value:
            return None
        values.append(value)
    return values


def _source(source: str) -> tuple[str, str]:
    """("header" | "querystring" | other, name) of an identity source expression."""
    parts = source.strip().removeprefix("$").split(".")
    if len(parts) >= 2 and parts[-2] in ("header", "querystring"):
        return parts[-2], parts[-1]
    return "", source


def _joined(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    joined: dict[str, str] = {}
    for name, value in pairs:
        joined[name] = f"{joined[name]},{value}" if name in joined else value
    return joined


# The one mapping from a verdict to API Gateway's answer; the body's words are the API's.
REFUSAL_STATUSES = (401, 403)


def refusal(verdict: Verdict, messages: Mapping[int, str]) -> tuple[int, str] | None:
    """None when the verdict allows; else the status (401, 403, or 500 for every other
    failure) and the `message` the API answers it with (`messages[status]`)."""
    if verdict.allowed:
        return None
    status = verdict.status if verdict.status in REFUSAL_STATUSES else 500
    assert status is not None
    return status, messages[status]


def _failure(invocation: Invocation) -> Verdict:
    if not invocation.timed_out and invocation.error_message == "Unauthorized":
        return UNAUTHORIZED
    return ERROR


def _clean_context(context: Any) -> Mapping[str, Any] | None:
    """The context, or None when a value is not a string, number or boolean (AWS: 500)."""
    if context is None:
        return {}
    if not isinstance(context, dict):
        return None
    if not all(isinstance(v, _CONTEXT_TYPES) for v in context.values()):
        return None
    return dict(context)


def _statements(policy: Any) -> list[dict[str, Any]]:
    if not isinstance(policy, dict):
        return []
    statements = policy.get("Statement") or []
    if isinstance(statements, dict):
        statements = [statements]
    return [s for s in statements if isinstance(s, dict)]


def _as_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _covers(statement: dict[str, Any], resource_arn: str) -> bool:
    actions = _as_list(statement.get("Action"))
    if not any(fnmatch.fnmatchcase("execute-api:Invoke", a) for a in actions):
        return False
    return any(fnmatch.fnmatchcase(resource_arn, r) for r in _as_list(statement.get("Resource")))


def policy_verdict(invocation: Invocation, resource_arn: str) -> Verdict:
    """An IAM-policy authorizer result (WebSocket, REST and HTTP API 1.0 format)."""
    if not invocation.ok:
        return _failure(invocation)
    result = invocation.result
    if not isinstance(result, dict) or "principalId" not in result:
        return ERROR
    statements = _statements(result.get("policyDocument"))
    if not statements:
        return ERROR
    context = _clean_context(result.get("context"))
    if context is None:
        return ERROR
    relevant = [s for s in statements if _covers(s, resource_arn)]
    if any(str(s.get("Effect", "")).lower() == "deny" for s in relevant):
        return FORBIDDEN
    if not any(str(s.get("Effect", "")).lower() == "allow" for s in relevant):
        return FORBIDDEN
    return Verdict(None, str(result["principalId"]), context)


def simple_verdict(invocation: Invocation) -> Verdict:
    """An HTTP API authorizer result in the simple format: ``{"isAuthorized": bool, ...}``."""
    if not invocation.ok:
        return _failure(invocation)
    result = invocation.result
    if not isinstance(result, dict) or not isinstance(result.get("isAuthorized"), bool):
        return ERROR
    if not result["isAuthorized"]:
        return FORBIDDEN
    # HTTP API contexts may hold any JSON value (they land under authorizer.lambda).
    context = result.get("context") or {}
    if not isinstance(context, dict):
        return ERROR
    return Verdict(None, None, context)

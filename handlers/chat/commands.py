"""Client frames → typed commands, with every limit of protocol.md checked here, once.

`parse_command` never lets bad input escape as a stray exception: it raises a ChatError
subclass whose code says what is wrong (bad_request, unknown_action, invalid_room,
too_large, read_only).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from wschat_protocol import (
    ACTIONS,
    HISTORY_DEFAULT_LIMIT,
    HISTORY_MAX_LIMIT,
    JOIN_HISTORY,
    JOINED_MAX_MEMBERS,
    MAX_CLIENT_MSG_ID_CHARS,
    MAX_DATA_BYTES,
    MAX_TEXT_CHARS,
    MAX_USER_ID_CHARS,
    MEMBERS_DEFAULT_LIMIT,
    MEMBERS_MAX_LIMIT,
    ROOM_RULE,
    is_feed,
    valid_room,
)

from . import ids
from .errors import BadRequest, InvalidRoom, ReadOnly, TooLarge, UnknownAction
from .model import Body

__all__ = ["JOINED_MAX_MEMBERS", "JOIN_HISTORY", "is_feed"]  # what the service reads here
# Nesting beyond this is refused: deep enough for any real payload, far from the depth
# where Python's JSON parser hits the recursion limit inside a handler.
MAX_JSON_DEPTH = 64


@dataclass(frozen=True)
class Join:
    room: str


@dataclass(frozen=True)
class Leave:
    room: str


@dataclass(frozen=True)
class Send:
    room: str
    body: Body
    client_msg_id: str | None


@dataclass(frozen=True)
class History:
    room: str
    before: str | None
    limit: int
    after: str | None = None


@dataclass(frozen=True)
class Members:
    room: str
    after: str | None = None
    limit: int = MEMBERS_DEFAULT_LIMIT


@dataclass(frozen=True)
class Direct:
    to: str
    body: Body
    client_msg_id: str | None


@dataclass(frozen=True)
class WhoAmI:
    pass


@dataclass(frozen=True)
class Ping:
    pass


Command = Join | Leave | Send | History | Members | Direct | WhoAmI | Ping


def validate_room(value: Any) -> str:
    if value is None:
        raise BadRequest("missing field 'room'")
    if not isinstance(value, str):
        raise BadRequest("field 'room' must be a string")
    if not valid_room(value):
        raise InvalidRoom(f"room names are {ROOM_RULE}")
    return value


def validate_body(obj: dict[str, Any]) -> Body:
    """`text` and/or `data`, within their limits (shared by `send`, `direct` and publish)."""
    has_text, has_data = "text" in obj, "data" in obj
    if not has_text and not has_data:
        raise BadRequest("a message needs 'text' and/or 'data'")
    text = obj.get("text") if has_text else None
    if has_text:
        if not isinstance(text, str):
            raise BadRequest("field 'text' must be a string")
        if not text:
            raise BadRequest("field 'text' must not be empty")
        if len(text) > MAX_TEXT_CHARS:
            raise TooLarge(f"text is {len(text)} characters; the limit is {MAX_TEXT_CHARS}")
    data_json = None
    if has_data:
        data_json = json.dumps(obj["data"], ensure_ascii=False, separators=(",", ":"))
        size = len(data_json.encode())
        if size > MAX_DATA_BYTES:
            raise TooLarge(f"data is {size} bytes serialized; the limit is {MAX_DATA_BYTES}")
    return Body(text=text, data_json=data_json)


def _client_msg_id(obj: dict[str, Any]) -> str | None:
    value = obj.get("clientMsgId")
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise BadRequest("field 'clientMsgId' must be a non-empty string")
    if len(value) > MAX_CLIENT_MSG_ID_CHARS:
        raise BadRequest(f"field 'clientMsgId' is limited to {MAX_CLIENT_MSG_ID_CHARS} characters")
    return value


def _limit(obj: dict[str, Any], default: int, most: int) -> int:
    value = obj.get("limit")
    if value is None:
        return default
    # bool is an int in Python; `true` is not a page size.
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest("field 'limit' must be an integer")
    if not 1 <= value <= most:
        raise BadRequest(f"field 'limit' must be between 1 and {most}")
    return value


def _cursor(obj: dict[str, Any], name: str) -> str | None:
    value = obj.get(name)
    if value is None:
        return None
    if not ids.is_id(value):
        raise BadRequest(f"field '{name}' must be a message id")
    return str(value)


def _history(obj: dict[str, Any]) -> History:
    room = validate_room(obj.get("room"))
    before, after = _cursor(obj, "before"), _cursor(obj, "after")
    if before is not None and after is not None:
        raise BadRequest("'before' and 'after' cannot be used together: page one way at a time")
    limit = _limit(obj, HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT)
    return History(room, before, limit, after)


def _user_id(obj: dict[str, Any], name: str) -> str | None:
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise BadRequest(f"field '{name}' must be a non-empty string (a user id)")
    if len(value) > MAX_USER_ID_CHARS:
        raise BadRequest(f"field '{name}' is limited to {MAX_USER_ID_CHARS} characters")
    return value


def _members(obj: dict[str, Any]) -> Members:
    room = validate_room(obj.get("room"))
    after = _user_id(obj, "after")
    return Members(room, after, _limit(obj, MEMBERS_DEFAULT_LIMIT, MEMBERS_MAX_LIMIT))


def _finite(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):  # 1e999: Python reads inf, which no JSON can carry out
        raise ValueError(f"{literal} is out of range")
    return value


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # Python's json accepts NaN and Infinity


def _too_deep(obj: Any) -> bool:
    pending: list[tuple[Any, int]] = [(obj, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > MAX_JSON_DEPTH:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


def decode_frame(body: str | None) -> dict[str, Any]:
    """The frame's JSON object, or BadRequest.

    Strict JSON only: whatever is accepted here is echoed to other clients, and NaN,
    Infinity or a lone surrogate (a `\\ud800` escape) would reach them as JSON their
    parser refuses, or fail to encode as UTF-8 at all.
    """
    if body is None:
        raise BadRequest("empty frame: expected a JSON object")
    try:
        obj = json.loads(body, parse_float=_finite, parse_constant=_not_json)
    except (ValueError, RecursionError):
        raise BadRequest("frame is not valid JSON") from None
    if not isinstance(obj, dict):
        raise BadRequest("frame must be a JSON object")
    if _too_deep(obj):
        raise BadRequest(f"frame is nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        json.dumps(obj, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise BadRequest("frame holds an unpaired surrogate escape (\\ud800-\\udfff)") from None
    return obj


def action_of(obj: dict[str, Any]) -> str:
    action = obj.get("action")
    if action is None:
        raise BadRequest("missing field 'action'")
    if not isinstance(action, str):
        raise BadRequest("field 'action' must be a string")
    return action


def parse_command(obj: dict[str, Any]) -> Command:
    """A decoded frame → its command. Fields other than the action's own are ignored."""
    action = action_of(obj)
    if action == "join":
        return Join(validate_room(obj.get("room")))
    if action == "leave":
        return Leave(validate_room(obj.get("room")))
    if action == "send":
        room = validate_room(obj.get("room"))
        if is_feed(room):
            raise ReadOnly(f"'{room}' is a feed: only the publish API writes to it")
        return Send(room, validate_body(obj), _client_msg_id(obj))
    if action == "history":
        return _history(obj)
    if action == "members":
        return _members(obj)
    if action == "direct":
        to = _user_id(obj, "to")
        if to is None:
            raise BadRequest("missing field 'to'")
        return Direct(to, validate_body(obj), _client_msg_id(obj))
    if action == "whoami":
        return WhoAmI()
    if action == "ping":
        return Ping()
    shown = action if len(action) <= 40 else action[:40] + "…"
    raise UnknownAction(f"unknown action '{shown}'; known: {', '.join(ACTIONS)}")

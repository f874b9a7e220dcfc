"""Client frames → typed commands, with every limit of protocol.md checked here, once.

`parse_command` never lets bad input escape as a stray exception: it raises a ChatError
subclass whose code says what is wrong (bad_request, unknown_action, invalid_room,
too_large, read_only).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from . import ids
from .errors import BadRequest, InvalidRoom, ReadOnly, TooLarge, UnknownAction
from .model import Body

ROOM_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
FEED_PREFIX = "feed:"
MAX_TEXT_CHARS = 4000
MAX_DATA_BYTES = 32 * 1024
MAX_CLIENT_MSG_ID_CHARS = 64
MAX_USER_ID_CHARS = 128
HISTORY_DEFAULT_LIMIT = 50
HISTORY_MAX_LIMIT = 100
JOIN_HISTORY = 20


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


@dataclass(frozen=True)
class Members:
    room: str


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
ACTIONS = ("join", "leave", "send", "history", "members", "direct", "whoami", "ping")


def is_feed(room: str) -> bool:
    return room.startswith(FEED_PREFIX)


def validate_room(value: Any) -> str:
    if value is None:
        raise BadRequest("missing field 'room'")
    if not isinstance(value, str):
        raise BadRequest("field 'room' must be a string")
    if not ROOM_PATTERN.fullmatch(value):
        raise InvalidRoom(
            "room names are 1-64 characters: letters, digits and _ . : - "
            "(starting with a letter or digit)"
        )
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


def _limit(obj: dict[str, Any]) -> int:
    value = obj.get("limit")
    if value is None:
        return HISTORY_DEFAULT_LIMIT
    # bool is an int in Python; `true` is not a page size.
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest("field 'limit' must be an integer")
    if not 1 <= value <= HISTORY_MAX_LIMIT:
        raise BadRequest(f"field 'limit' must be between 1 and {HISTORY_MAX_LIMIT}")
    return value


def _before(obj: dict[str, Any]) -> str | None:
    value = obj.get("before")
    if value is None:
        return None
    if not ids.is_id(value):
        raise BadRequest("field 'before' must be a message id")
    return str(value)


def _user_id(obj: dict[str, Any]) -> str:
    value = obj.get("to")
    if value is None:
        raise BadRequest("missing field 'to'")
    if not isinstance(value, str) or not value:
        raise BadRequest("field 'to' must be a non-empty string (a user id)")
    if len(value) > MAX_USER_ID_CHARS:
        raise BadRequest(f"field 'to' is limited to {MAX_USER_ID_CHARS} characters")
    return value


def decode_frame(body: str | None) -> dict[str, Any]:
    """The frame's JSON object, or BadRequest."""
    if body is None:
        raise BadRequest("empty frame: expected a JSON object")
    try:
        obj = json.loads(body)
    except (ValueError, RecursionError):
        raise BadRequest("frame is not valid JSON") from None
    if not isinstance(obj, dict):
        raise BadRequest("frame must be a JSON object")
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
        return History(validate_room(obj.get("room")), _before(obj), _limit(obj))
    if action == "members":
        return Members(validate_room(obj.get("room")))
    if action == "direct":
        return Direct(_user_id(obj), validate_body(obj), _client_msg_id(obj))
    if action == "whoami":
        return WhoAmI()
    if action == "ping":
        return Ping()
    shown = action if len(action) <= 40 else action[:40] + "…"
    raise UnknownAction(f"unknown action '{shown}'; known: {', '.join(ACTIONS)}")

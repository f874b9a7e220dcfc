"""The chat protocol as the bundled clients speak it: frame builders, and the protocol's
facts (names, limits, the room pattern) re-exported from `wschat_protocol`, their one
source, which the service uses too.

The contract is docs/protocol.md; this module only adds what a client needs to build
valid frames and to recognise rooms and errors.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from wschat_protocol import (
    ACTIONS,
    ERROR_CODES,
    FEED_PREFIX,
    FIRST_ID,
    FRAME_TYPES,
    HISTORY_DEFAULT_LIMIT,
    HISTORY_MAX_LIMIT,
    JOIN_HISTORY,
    JOINED_MAX_MEMBERS,
    MAX_CLIENT_MSG_ID_CHARS,
    MAX_DATA_BYTES,
    MAX_ROOMS_PER_CONNECTION,
    MAX_TEXT_CHARS,
    MAX_USER_ID_CHARS,
    MEMBERS_DEFAULT_LIMIT,
    MEMBERS_MAX_LIMIT,
    ROOM_RE,
    ROOM_RULE,
    catch_up_cursor,
    id_at,
    is_feed,
    is_message_id,
    valid_room,
)

# Older names the clients use, kept as aliases (not copies) of the facts above.
MAX_CLIENT_MSG_ID = MAX_CLIENT_MSG_ID_CHARS
HISTORY_PAGE_MAX = HISTORY_MAX_LIMIT

__all__ = [
    "ACTIONS",
    "ERROR_CODES",
    "FEED_PREFIX",
    "FIRST_ID",
    "FRAME_TYPES",
    "HISTORY_DEFAULT_LIMIT",
    "HISTORY_MAX_LIMIT",
    "HISTORY_PAGE_MAX",
    "JOINED_MAX_MEMBERS",
    "JOIN_HISTORY",
    "MAX_CLIENT_MSG_ID",
    "MAX_CLIENT_MSG_ID_CHARS",
    "MAX_DATA_BYTES",
    "MAX_ROOMS_PER_CONNECTION",
    "MAX_TEXT_CHARS",
    "MAX_USER_ID_CHARS",
    "MEMBERS_DEFAULT_LIMIT",
    "MEMBERS_MAX_LIMIT",
    "ROOM_RE",
    "ROOM_RULE",
    "catch_up_cursor",
    "direct",
    "encode",
    "history",
    "id_at",
    "is_feed",
    "is_message_id",
    "join",
    "leave",
    "members",
    "ping",
    "send",
    "valid_room",
    "whoami",
    "with_token",
]


def with_token(url: str, token: str) -> str:
    """`url` with `?token=` set (replacing any token already in its query string)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "token"]
    query.append(("token", token))
    return urlunsplit(parts._replace(query=urlencode(query)))


def encode(frame: dict[str, Any]) -> str:
    # Compact separators: frames are metered by size on AWS.
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


def join(room: str) -> dict[str, Any]:
    return {"action": "join", "room": room}


def leave(room: str) -> dict[str, Any]:
    return {"action": "leave", "room": room}


def send(
    room: str, text: str | None = None, data: Any = None, client_msg_id: str | None = None
) -> dict[str, Any]:
    return _with_body({"action": "send", "room": room}, text, data, client_msg_id)


def direct(
    to: str, text: str | None = None, data: Any = None, client_msg_id: str | None = None
) -> dict[str, Any]:
    return _with_body({"action": "direct", "to": to}, text, data, client_msg_id)


def _with_body(
    frame: dict[str, Any], text: str | None, data: Any, client_msg_id: str | None
) -> dict[str, Any]:
    """The optional fields `send` and `direct` share."""
    if text is not None:
        frame["text"] = text
    if data is not None:
        frame["data"] = data
    if client_msg_id is not None:
        frame["clientMsgId"] = client_msg_id
    return frame


def history(
    room: str, before: str | None = None, limit: int | None = None, *, after: str | None = None
) -> dict[str, Any]:
    """A `history` request: newest (no cursor), older than `before`, or newer than
    `after` (one of the two at most)."""
    if before is not None and after is not None:
        raise ValueError("history pages one way: give `before` or `after`, not both")
    frame: dict[str, Any] = {"action": "history", "room": room}
    if before is not None:
        frame["before"] = before
    if after is not None:
        frame["after"] = after
    if limit is not None:
        frame["limit"] = limit
    return frame


def members(room: str, after: str | None = None, limit: int | None = None) -> dict[str, Any]:
    """A `members` page: users by id, from the one after `after`."""
    frame: dict[str, Any] = {"action": "members", "room": room}
    if after is not None:
        frame["after"] = after
    if limit is not None:
        frame["limit"] = limit
    return frame


def whoami() -> dict[str, Any]:
    return {"action": "whoami"}


def ping() -> dict[str, Any]:
    return {"action": "ping"}

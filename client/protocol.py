"""The chat protocol as the bundled clients speak it: frame builders, names and limits.

The contract is docs/protocol (shared/protocol.md); this module only holds what a client
needs to build valid frames and to recognise rooms and errors.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

ROOM_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
FEED_PREFIX = "feed:"  # rooms only the publish API writes to
MAX_TEXT_CHARS = 4000
MAX_DATA_BYTES = 32 * 1024
MAX_CLIENT_MSG_ID = 64
HISTORY_PAGE_MAX = 100

# Error codes the service answers with (protocol: "Error codes").
ERROR_CODES = (
    "bad_request",
    "unknown_action",
    "invalid_room",
    "too_large",
    "not_member",
    "read_only",
    "rate_limited",
    "user_offline",
    "internal",
)


def valid_room(name: str) -> bool:
    return bool(ROOM_RE.match(name))


def is_feed(room: str) -> bool:
    return room.startswith(FEED_PREFIX)


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


def history(room: str, before: str | None = None, limit: int | None = None) -> dict[str, Any]:
    frame: dict[str, Any] = {"action": "history", "room": room}
    if before is not None:
        frame["before"] = before
    if limit is not None:
        frame["limit"] = limit
    return frame


def members(room: str) -> dict[str, Any]:
    return {"action": "members", "room": room}


def whoami() -> dict[str, Any]:
    return {"action": "whoami"}


def ping() -> dict[str, Any]:
    return {"action": "ping"}

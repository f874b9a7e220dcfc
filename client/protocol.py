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
JOINED_HISTORY = 20  # `joined` carries up to this many recent messages

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
    "too_many_rooms",
    "internal",
)

# Message ids are ULIDs (docs/protocol.md): 10 Crockford base32 digits of milliseconds,
# then 16 random ones, so string order is time order and an id can be made for a moment.
ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ID_TIME_DIGITS = 10
ID_LENGTH = 26
# How far before the newest id seen a catch-up starts: an id is minted by the sending
# invocation, so one stored just after it may carry a slightly older id.
CATCHUP_MARGIN_MS = 5000
# The id below every id: `after` it pages a room from its first message.
FIRST_ID = ID_ALPHABET[0] * ID_LENGTH


def valid_room(name: str) -> bool:
    # fullmatch: `$` alone would accept a trailing newline ("abc\n").
    return bool(ROOM_RE.fullmatch(name))


def id_time_ms(message_id: str) -> int:
    """The milliseconds encoded in a message id."""
    value = 0
    for c in message_id[:ID_TIME_DIGITS]:
        value = value * 32 + ID_ALPHABET.index(c)
    return value


def id_at(ms: int) -> str:
    """The smallest id of millisecond `ms`: every message id of that moment or later is after it."""
    digits = []
    value = max(0, ms)
    for _ in range(ID_TIME_DIGITS):
        value, d = divmod(value, 32)
        digits.append(ID_ALPHABET[d])
    return "".join(reversed(digits)) + ID_ALPHABET[0] * (ID_LENGTH - ID_TIME_DIGITS)


def catchup_cursor(newest: str | None, margin_ms: int = CATCHUP_MARGIN_MS) -> str:
    """Where to page forward from after a reconnect: a little before the newest id seen,
    or the room's start when nothing was seen in it."""
    if newest is None:
        return FIRST_ID
    try:
        return id_at(id_time_ms(newest) - margin_ms)
    except ValueError:  # not an id of ours: start over rather than miss anything
        return FIRST_ID


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


def history(
    room: str, before: str | None = None, limit: int | None = None, *, after: str | None = None
) -> dict[str, Any]:
    frame: dict[str, Any] = {"action": "history", "room": room}
    if before is not None:
        frame["before"] = before
    if after is not None:
        frame["after"] = after
    if limit is not None:
        frame["limit"] = limit
    return frame


def members(room: str, after: str | None = None, limit: int | None = None) -> dict[str, Any]:
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

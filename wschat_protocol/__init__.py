"""The chat protocol's facts, defined once: actions, frame types, error codes, limits,
the room pattern, history and member page sizes, and the shape of message ids.

The service (`handlers/`, which deploys this package beside itself: serverless.yml's
`package.patterns`), the Python clients (`client/`) and the tests import them from here;
neither side imports the other. The web page gets them as `client/web/protocol.js`,
generated from this module (`python -m wschat_protocol.web`), and
tests/unit/test_protocol_facts.py fails when any copy (that file, the routes in
serverless.yml, the error classes, the tables in docs/protocol.md) drifts from this one.
"""

from __future__ import annotations

import re
from typing import Final

# -- what a client sends -------------------------------------------------------------
ACTIONS: Final = ("join", "leave", "send", "history", "members", "direct", "whoami", "ping")

# -- what the service sends ------------------------------------------------------------
FRAME_TYPES: Final = (
    "joined",
    "left",
    "presence",
    "message",
    "direct",
    "history",
    "members",
    "whoami",
    "pong",
    "error",
)
PRESENCE_EVENTS: Final = ("join", "leave")
ERROR_CODES: Final = (
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

# -- rooms -------------------------------------------------------------------------------
# Matched whole (`fullmatch`): "abc\n" is not a room name.
ROOM_PATTERN: Final = r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}"
ROOM_RE: Final = re.compile(ROOM_PATTERN)
# The pattern in words, for the error a person reads (service and clients alike).
ROOM_RULE: Final = "1-64 characters: letters, digits and _ . : - (starting with a letter or digit)"
FEED_PREFIX: Final = "feed:"  # rooms only the publish API writes to
MAX_ROOMS_PER_CONNECTION: Final = 100

# -- message bodies ----------------------------------------------------------------------
MAX_TEXT_CHARS: Final = 4000  # Unicode code points
MAX_DATA_BYTES: Final = 32 * 1024  # `data` as compact UTF-8 JSON
MAX_CLIENT_MSG_ID_CHARS: Final = 64
MAX_USER_ID_CHARS: Final = 128  # a token's `sub`, a direct message's `to`, a members `after`
MAX_NAME_CHARS: Final = 64  # display names are cut to this
DEDUP_WINDOW_S: Final = 300  # a repeated clientMsgId to the same target within this

# -- pages ------------------------------------------------------------------------------
HISTORY_DEFAULT_LIMIT: Final = 50
HISTORY_MAX_LIMIT: Final = 100
JOIN_HISTORY: Final = 20  # messages in `joined`
JOINED_MAX_MEMBERS: Final = 100  # users in `joined`
MEMBERS_DEFAULT_LIMIT: Final = 1000
MEMBERS_MAX_LIMIT: Final = 1000

# -- API Gateway's limits, which the protocol is shaped by ------------------------------
MAX_FRAME_BYTES: Final = 32 * 1024  # one WebSocket frame (larger: the gateway closes 1009)
MAX_MESSAGE_BYTES: Final = 128 * 1024  # one message, and every answer fits in one
IDLE_TIMEOUT_S: Final = 600  # `ping` (any frame) keeps a connection open

# -- rate limit (the defaults; a deployment may configure others) ----------------------
DEFAULT_RATE_LIMIT: Final = 50  # frames per connection per window
DEFAULT_RATE_WINDOW_S: Final = 10

# -- publish API ---------------------------------------------------------------------------
PUBLISH_SCOPE: Final = "publish"  # the token scope that may publish (matched exactly)

# -- message ids: 26 characters of Crockford base32, 10 of them the millisecond time --------
ID_ALPHABET: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # ascending in ASCII
ID_LENGTH: Final = 26
ID_TIME_CHARS: Final = 10
# A message sent at the moment of a disconnect may carry an id older than the last one a
# client saw (ids are minted by the invocation that handled the send): catch-up starts
# this far before it.
CATCH_UP_MARGIN_MS: Final = 5000


def valid_room(name: object) -> bool:
    """Whether `name` is a room name (the whole string, no trailing newline)."""
    return isinstance(name, str) and ROOM_RE.fullmatch(name) is not None


def is_feed(room: str) -> bool:
    return room.startswith(FEED_PREFIX)


def is_message_id(value: object) -> bool:
    """Whether `value` has the shape of a message id (any such id is a valid cursor)."""
    return (
        isinstance(value, str)
        and len(value) == ID_LENGTH
        and all(c in ID_ALPHABET for c in value)
        and value[0] in "01234567"  # 48-bit timestamps never set the top bits
    )


def id_timestamp_ms(message_id: str) -> int:
    """The millisecond time a message id was minted at."""
    value = 0
    for c in message_id[:ID_TIME_CHARS]:
        value = value * 32 + ID_ALPHABET.index(c)
    return value


def id_at(ms: int) -> str:
    """The lowest id of millisecond `ms`: `after` it are the messages from `ms` on."""
    chars = []
    value = max(ms, 0)
    for _ in range(ID_TIME_CHARS):
        value, digit = divmod(value, 32)
        chars.append(ID_ALPHABET[digit])
    return "".join(reversed(chars)) + ID_ALPHABET[0] * (ID_LENGTH - ID_TIME_CHARS)


# The id below every id: `after` it, a room pages from its first message.
FIRST_ID: Final = ID_ALPHABET[0] * ID_LENGTH


def catch_up_cursor(last_seen_id: str | None, margin_ms: int = CATCH_UP_MARGIN_MS) -> str:
    """Where a reconnecting client starts paging a room forward (`after`): `margin_ms`
    before the last id it saw there, or the room's first message when it saw none.
    Pages may then repeat a message or two: drop duplicates by id."""
    if last_seen_id is None or not is_message_id(last_seen_id):
        return FIRST_ID
    return id_at(id_timestamp_ms(last_seen_id) - margin_ms)

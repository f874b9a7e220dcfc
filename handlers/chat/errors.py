"""Every failure a user can see, one class per protocol error code.

ChatError
 ├── BadRequest        bad_request     not a JSON object, missing or mistyped field
 ├── UnknownAction     unknown_action
 ├── InvalidRoom       invalid_room    room name outside the pattern (wschat_protocol)
 ├── TooLarge          too_large       text over 4000 characters, data over 32 KB
 ├── NotMember         not_member      send/history/members without joining
 ├── ReadOnly          read_only       send to a feed: room over WebSocket
 ├── RateLimited       rate_limited    carries retry_after_ms
 ├── UserOffline       user_offline    direct to a user with no connection
 ├── TooManyRooms      too_many_rooms  a join past the rooms a connection may be in
 └── Internal          internal
AuthError (not a frame: the authorizers turn it into 401 / 403)
 └── Forbidden         a verified token that is denied (403)
ConnectionGone (not a frame: nobody is left to answer)
TooManyConnections (not a frame: $connect refuses the handshake, 429)
"""

from __future__ import annotations

from wschat_protocol import MAX_ROOMS_PER_CONNECTION


class ChatError(Exception):
    code = "internal"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(ChatError):
    code = "bad_request"


class UnknownAction(ChatError):
    code = "unknown_action"


class InvalidRoom(ChatError):
    code = "invalid_room"


class TooLarge(ChatError):
    code = "too_large"


class NotMember(ChatError):
    code = "not_member"


class ReadOnly(ChatError):
    code = "read_only"


class RateLimited(ChatError):
    code = "rate_limited"

    def __init__(self, message: str, retry_after_ms: int) -> None:
        super().__init__(message)
        self.retry_after_ms = retry_after_ms


class UserOffline(ChatError):
    code = "user_offline"


class TooManyRooms(ChatError):
    code = "too_many_rooms"

    def __init__(self) -> None:
        super().__init__(
            f"a connection can be in at most {MAX_ROOMS_PER_CONNECTION} rooms: leave one first"
        )


class Internal(ChatError):
    code = "internal"


class AuthError(Exception):
    """The token is missing, malformed, badly signed, expired or for someone else: 401."""


class Forbidden(AuthError):
    """The token is genuine but does not grant this: 403."""


class ConnectionGone(Exception):
    """The frame's connection has no record: `$disconnect` (or a delivery that found it
    gone) removed it while the frame was in flight. Nothing may recreate it."""


class TooManyConnections(Exception):
    """The user already has as many connections as a user may have."""

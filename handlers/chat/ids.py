"""Message ids: unique, and sorting as strings sorts them in time order.

26 characters of Crockford base32: 10 for the millisecond timestamp, 16 for 80 random
bits (the ULID layout). Within one process, ids minted in the same millisecond increment
the random part so they still sort in the order they were made.
"""

from __future__ import annotations

import secrets
import threading
import time

from wschat_protocol import ID_ALPHABET, ID_LENGTH, ID_TIME_CHARS, id_timestamp_ms
from wschat_protocol import is_message_id as is_id

__all__ = ["ID_LENGTH", "is_id", "new_id", "predecessor", "successor", "timestamp_ms"]

_ALPHABET = ID_ALPHABET  # ascending in ASCII, so string order == numeric order
_RANDOM_BITS = 80
_lock = threading.Lock()
_last_ms = -1
_last_random = 0


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, digit = divmod(value, 32)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))


def new_id(now_ms: int | None = None) -> str:
    """A fresh message id for the time `now_ms` (default: now)."""
    global _last_ms, _last_random
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    with _lock:
        if ms == _last_ms and _last_random + 1 < (1 << _RANDOM_BITS):
            _last_random += 1
        else:
            _last_ms, _last_random = ms, secrets.randbits(_RANDOM_BITS - 1)
        rand = _last_random
    return _encode(ms, ID_TIME_CHARS) + _encode(rand, ID_LENGTH - ID_TIME_CHARS)


def _decode(value: str) -> int:
    number = 0
    for c in value:
        number = number * 32 + _ALPHABET.index(c)
    return number


def _step(message_id: str, delta: int) -> str | None:
    value = _decode(message_id) + delta
    if value < 0:
        return None
    stepped = _encode(value, ID_LENGTH)
    return stepped if is_id(stepped) else None


def predecessor(message_id: str) -> str | None:
    """The id just below `message_id`: `after` it starts at `message_id` itself.

    A cursor, never a message: it lets an empty page point at the messages on its other
    side with the protocol's exclusive `before` / `after`. None when none exists.
    """
    return _step(message_id, -1)


def successor(message_id: str) -> str | None:
    """The id just above `message_id`: `before` it ends at `message_id` itself."""
    return _step(message_id, 1)


def timestamp_ms(message_id: str) -> int:
    """The millisecond timestamp encoded in a message id."""
    return id_timestamp_ms(message_id)

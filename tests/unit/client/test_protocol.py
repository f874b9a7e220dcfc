"""The client's view of the protocol: room names and the catch-up cursor."""

from __future__ import annotations

from client import protocol
from handlers.chat import ids
from wschat_protocol import is_message_id


def test_a_room_name_with_a_trailing_newline_is_refused() -> None:
    assert protocol.valid_room("abc")
    assert not protocol.valid_room("abc\n")
    assert not protocol.valid_room("bad room!")


def test_the_catch_up_cursor_is_a_few_seconds_before_the_newest_id() -> None:
    newest = ids.new_id(1_700_000_010_000)
    cursor = protocol.catch_up_cursor(newest)
    assert is_message_id(cursor)  # the service takes it as a cursor
    assert ids.timestamp_ms(cursor) == 1_700_000_005_000
    # Every id minted from that moment on sorts after it, earlier ones before it.
    assert ids.new_id(1_700_000_005_000) > cursor > ids.new_id(1_700_000_004_999)


def test_with_nothing_seen_the_cursor_is_the_start_of_the_room() -> None:
    cursor = protocol.catch_up_cursor(None)
    assert is_message_id(cursor)
    assert cursor < ids.new_id(0)

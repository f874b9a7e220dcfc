"""Client frames → commands: the protocol's rules with no I/O."""

from __future__ import annotations

import pytest

from handlers.chat import commands as c
from handlers.chat.errors import BadRequest, InvalidRoom, ReadOnly, TooLarge, UnknownAction
from handlers.chat.ids import new_id


def test_every_action_parses() -> None:
    assert c.parse_command({"action": "join", "room": "r"}) == c.Join("r")
    assert c.parse_command({"action": "leave", "room": "r"}) == c.Leave("r")
    send = c.parse_command({"action": "send", "room": "r", "text": "hi", "clientMsgId": "k"})
    assert isinstance(send, c.Send) and send.body.text == "hi" and send.client_msg_id == "k"
    before = new_id()
    assert c.parse_command({"action": "history", "room": "r", "before": before, "limit": 7}) == (
        c.History("r", before, 7)
    )
    assert c.parse_command({"action": "history", "room": "r"}) == c.History("r", None, 50)
    assert c.parse_command({"action": "history", "room": "r", "after": before}) == (
        c.History("r", None, 50, before)
    )
    assert c.parse_command({"action": "members", "room": "r"}) == c.Members("r", None, 1000)
    assert c.parse_command({"action": "members", "room": "r", "after": "bob", "limit": 3}) == (
        c.Members("r", "bob", 3)
    )
    direct = c.parse_command({"action": "direct", "to": "bob", "data": [1]})
    assert isinstance(direct, c.Direct) and direct.body.data_json == "[1]"
    assert c.parse_command({"action": "whoami"}) == c.WhoAmI()
    assert c.parse_command({"action": "ping"}) == c.Ping()


def test_decode_frame_refuses_what_is_not_an_object() -> None:
    for body in (None, "", "nope", "[]", "1", '"x"', "[" * 100_000):
        with pytest.raises(BadRequest):
            c.decode_frame(body)


def test_unknown_action_lists_the_known_ones() -> None:
    with pytest.raises(UnknownAction, match="known: join, leave"):
        c.parse_command({"action": "fly"})


def test_room_rules() -> None:
    assert c.validate_room("a" * 64) == "a" * 64
    for bad in ("a" * 65, "", ":x", "x\n", "x y", "é"):
        with pytest.raises(InvalidRoom):
            c.validate_room(bad)
    with pytest.raises(BadRequest):
        c.validate_room(None)


def test_feed_send_is_read_only_before_anything_else() -> None:
    with pytest.raises(ReadOnly):
        c.parse_command({"action": "send", "room": "feed:cpu", "text": "x"})


def test_text_counts_characters_not_bytes() -> None:
    assert c.validate_body({"text": "€" * 4000}).text == "€" * 4000
    with pytest.raises(TooLarge):
        c.validate_body({"text": "€" * 4001})


def test_data_limit_counts_serialized_utf8_bytes() -> None:
    # "€" is 3 bytes in UTF-8; the quotes are 2 more.
    fits = "€" * ((32 * 1024 - 2) // 3)
    assert c.validate_body({"data": fits}).data_json is not None
    with pytest.raises(TooLarge):
        c.validate_body({"data": fits + "€€"})


def test_body_fields_are_checked() -> None:
    with pytest.raises(BadRequest):
        c.validate_body({})
    with pytest.raises(BadRequest):
        c.validate_body({"text": None})
    body = c.validate_body({"data": {"nested": {"ok": True}}})
    assert body.text is None and body.to_json() == {"data": {"nested": {"ok": True}}}


def test_history_pages_one_way_at_a_time() -> None:
    cursor = new_id()
    with pytest.raises(BadRequest, match="together"):
        c.parse_command({"action": "history", "room": "r", "before": cursor, "after": cursor})

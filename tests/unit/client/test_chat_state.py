"""The CLI's room memory: history pages, and catching up on what a reconnect missed."""

from __future__ import annotations

from typing import Any

from client.chat import commands as c
from client.chat.state import ChatState

BOB = {"id": "bob", "name": "bob"}


def msg(n: int, room: str = "general") -> dict[str, Any]:
    return {
        "type": "message",
        "room": room,
        "id": f"{n:06d}",
        "from": BOB,
        "text": f"m{n}",
        "ts": 0,
    }


def texts(lines: list[str]) -> list[str]:
    return [line.rsplit(" ", 1)[-1] for line in lines if "<bob>" in line]


def joined(state: ChatState, history: list[dict[str, Any]]) -> list[str]:
    return state.frame(
        {"type": "joined", "room": "general", "members": [BOB], "history": history}
    ).lines


def test_joining_shows_recent_messages_and_makes_the_room_current() -> None:
    state = ChatState(me="alice")
    lines = joined(state, [msg(1), msg(2)])
    assert texts(lines) == ["m1", "m2"]
    assert state.current == "general"
    assert state.command(c.Say("hi")).frames == [
        {"action": "send", "room": "general", "text": "hi"}
    ]


def test_history_pages_go_back_from_the_oldest_message_shown() -> None:
    state = ChatState()
    joined(state, [msg(n) for n in range(100, 120)])
    fx = state.command(c.History(10))
    assert fx.frames == [{"action": "history", "room": "general", "before": "000100", "limit": 10}]
    page = {
        "type": "history",
        "room": "general",
        "messages": [msg(90), msg(95)],
        "nextBefore": "000090",
    }
    lines = state.frame(page).lines
    assert texts(lines) == ["m90", "m95"]
    assert lines[-1] == "--- /history for more ---"
    assert state.command(c.History(10)).frames[0]["before"] == "000090"
    last = {"type": "history", "room": "general", "messages": [msg(80)], "nextBefore": None}
    assert state.frame(last).lines[-1] == "--- start of #general ---"
    assert state.command(c.History(10)).lines == ["* no older messages in #general"]


def test_a_reconnect_shows_only_messages_not_seen_before() -> None:
    state = ChatState()
    joined(state, [msg(1), msg(2)])
    state.frame(msg(3))
    assert state.rejoin() == [{"action": "join", "room": "general"}]
    lines = joined(state, [msg(1), msg(2), msg(3), msg(4), msg(5)])
    assert texts(lines) == ["m4", "m5"]


def test_a_long_outage_pages_back_until_the_gap_is_closed() -> None:
    state = ChatState()
    joined(state, [msg(1)])
    state.frame(msg(2))
    # 60 messages were sent while disconnected (ids 3..62); joined shows the last 20.
    fx = state.frame(
        {
            "type": "joined",
            "room": "general",
            "members": [],
            "history": [msg(n) for n in range(43, 63)],
        }
    )
    assert fx.frames == [{"action": "history", "room": "general", "before": "000043", "limit": 100}]
    assert texts(fx.lines) == []  # nothing printed until the gap is closed, so order holds
    # A live message arriving meanwhile waits too.
    assert state.frame(msg(63)).lines == []
    page = [msg(n) for n in range(1, 43)]
    fx = state.frame({"type": "history", "room": "general", "messages": page, "nextBefore": None})
    assert texts(fx.lines) == [f"m{n}" for n in range(3, 64)]
    assert fx.lines[0] == "* 61 new in #general while you were away:"
    assert state.frame(msg(63)).lines == []  # already shown: never twice


def test_read_only_feeds_refuse_typed_text_locally() -> None:
    state = ChatState()
    state.frame({"type": "joined", "room": "feed:cpu", "members": [], "history": []})
    assert state.command(c.Say("hi")).lines == ["! #feed:cpu is a read-only feed"]


def test_leaving_the_current_room_switches_to_another() -> None:
    state = ChatState()
    joined(state, [])
    state.command(c.Join("lobby"))
    state.frame({"type": "joined", "room": "lobby", "members": [], "history": []})
    assert state.current == "lobby"
    lines = state.frame({"type": "left", "room": "lobby"}).lines
    assert lines == ["* you left #lobby", "* now talking in #general"]
    assert state.current == "general"


def test_the_room_asked_for_becomes_current_whatever_order_joins_are_answered() -> None:
    state = ChatState()
    state.wanted = "general"  # the first --room
    state.frame({"type": "joined", "room": "feed:cpu", "members": [], "history": []})
    state.frame({"type": "joined", "room": "general", "members": [], "history": []})
    assert state.current == "general"
    state.command(c.Join("lobby"))
    state.frame({"type": "joined", "room": "lobby", "members": [], "history": []})
    assert state.current == "lobby"


def test_joining_a_room_you_are_in_just_switches_to_it() -> None:
    state = ChatState()
    joined(state, [])
    state.command(c.Join("lobby"))
    state.frame({"type": "joined", "room": "lobby", "members": [], "history": []})
    fx = state.command(c.Join("general"))
    assert (fx.frames, fx.lines, state.current) == ([], ["* now talking in #general"], "general")

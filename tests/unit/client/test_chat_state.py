"""The CLI's room memory: history pages, catching up after reconnects, unacked sends."""

from __future__ import annotations

import itertools
from typing import Any

from client import protocol
from client.chat import commands as c
from client.chat.state import ChatState, Effects

BOB = {"id": "bob", "name": "bob"}
ALICE = {"id": "alice", "name": "alice"}
T0 = 1_700_000_000_000


def mid(n: int) -> str:
    """The id of message n: minted n seconds after T0, so they sort by n."""
    return protocol.id_at(T0 + n * 1000)[:10] + f"{n:016d}"


def msg(n: int, room: str = "general", sender: dict[str, str] = BOB) -> dict[str, Any]:
    return {"type": "message", "room": room, "id": mid(n), "from": sender, "text": f"m{n}", "ts": 0}


def texts(lines: list[str]) -> list[str]:
    return [line.rsplit(" ", 1)[-1] for line in lines if "<bob>" in line]


def joined(state: ChatState, history: list[dict[str, Any]], room: str = "general") -> Effects:
    return state.frame({"type": "joined", "room": room, "members": [BOB], "history": history})


class Room:
    """The service's side of one room, as far as `history` goes (protocol.md's rules)."""

    def __init__(self, numbers: range | list[int], name: str = "general") -> None:
        self.name = name
        self.messages = [msg(n, name) for n in numbers]
        self.asked: list[dict[str, Any]] = []

    def joined(self) -> dict[str, Any]:
        return {"type": "joined", "room": self.name, "members": [], "history": self.messages[-20:]}

    def history(self, frame: dict[str, Any]) -> dict[str, Any]:
        self.asked.append(frame)
        limit = frame.get("limit", 50)
        ms = sorted(self.messages, key=lambda m: m["id"])
        if "after" in frame:
            page = [m for m in ms if m["id"] > frame["after"]][:limit]
        else:
            older = [m for m in ms if "before" not in frame or m["id"] < frame["before"]]
            page = older[-limit:]
        first, last = (page[0]["id"], page[-1]["id"]) if page else (None, None)
        return {
            "type": "history",
            "room": self.name,
            "messages": page,
            "nextBefore": first if first and ms[0]["id"] < first else None,
            "nextAfter": last if last and ms[-1]["id"] > last else None,
        }

    def answer(self, state: ChatState, fx: Effects) -> list[str]:
        """Answer every history request in `fx` (and those that follow); the lines shown."""
        lines = list(fx.lines)
        frames = [f for f in fx.frames if f.get("action") == "history"]
        while frames:
            out = state.frame(self.history(frames.pop(0)))
            lines += out.lines
            frames += [f for f in out.frames if f.get("action") == "history"]
        return lines


def test_joining_shows_recent_messages_and_makes_the_room_current() -> None:
    state = ChatState(me="alice", client_msg_id=lambda: "c1")
    lines = joined(state, [msg(1), msg(2)]).lines
    assert texts(lines) == ["m1", "m2"]
    assert state.current == "general"
    assert state.command(c.Say("hi")).frames == [
        {"action": "send", "room": "general", "text": "hi", "clientMsgId": "c1"}
    ]


def test_history_pages_go_back_from_the_oldest_message_shown() -> None:
    state = ChatState()
    joined(state, [msg(n) for n in range(100, 120)])
    fx = state.command(c.History(10))
    assert fx.frames == [{"action": "history", "room": "general", "before": mid(100), "limit": 10}]
    page = {
        "type": "history",
        "room": "general",
        "messages": [msg(90), msg(95)],
        "nextBefore": mid(90),
        "nextAfter": mid(95),
    }
    lines = state.frame(page).lines
    assert texts(lines) == ["m90", "m95"]
    assert lines[-1] == "--- /history for more ---"
    assert state.command(c.History(10)).frames[0]["before"] == mid(90)
    last = {"type": "history", "room": "general", "messages": [msg(80)], "nextBefore": None}
    assert state.frame(last).lines[-1] == "--- start of #general ---"
    assert state.command(c.History(10)).lines == ["* no older messages in #general"]


def test_a_short_joined_history_is_not_taken_for_the_start_of_the_room() -> None:
    # Only the service knows where the room starts: a page says so with nextBefore null.
    state = ChatState()
    joined(state, [msg(1), msg(2)])
    fx = state.command(c.History(20))
    assert fx.frames == [{"action": "history", "room": "general", "before": mid(1), "limit": 20}]


def test_a_reconnect_shows_only_messages_not_seen_before() -> None:
    state = ChatState()
    joined(state, [msg(1), msg(2)])
    state.frame(msg(3))
    assert state.rejoin() == [{"action": "join", "room": "general"}]
    fx = joined(state, [msg(n) for n in range(1, 6)])
    assert fx.frames == []  # `joined` reaches back past what was seen: nothing to ask
    assert texts(fx.lines) == ["m4", "m5"]


def test_30_missed_in_a_room_where_nothing_was_shown_yet_all_show_once_in_order() -> None:
    state = ChatState()
    joined(state, [])  # a quiet room
    room = Room(range(1, 31))  # 30 sent while we were away; `joined` carries 20
    state.rejoin()
    lines = room.answer(state, state.frame(room.joined()))
    assert room.asked[0] == {
        "action": "history",
        "room": "general",
        "after": protocol.FIRST_ID,
        "limit": 100,
    }
    assert texts(lines) == [f"m{n}" for n in range(1, 31)]
    assert "* 30 new in #general while you were away:" in lines


def test_more_than_a_page_missed_is_followed_page_by_page() -> None:
    state = ChatState()
    joined(state, [msg(1), msg(2)])
    room = Room(range(1, 253))  # 250 missed: three pages of 100
    state.rejoin()
    fx = state.frame(room.joined())
    assert texts(fx.lines) == []  # nothing printed until caught up, so order holds
    lines = room.answer(state, fx)
    # It starts a little before the newest seen id and follows nextAfter to the end.
    assert room.asked[0]["after"] == protocol.catch_up_cursor(mid(2))
    assert [f["after"] for f in room.asked[1:]] == [mid(100), mid(200)]
    assert texts(lines) == [f"m{n}" for n in range(3, 253)]
    assert lines[-1].endswith("m252")


def test_a_message_sent_during_the_reconnect_shows_once_in_its_place() -> None:
    state = ChatState()
    joined(state, [msg(1)])
    room = Room(range(1, 41))
    state.rejoin()
    fx = state.frame(room.joined())
    # While the catch-up page is on its way, m41 arrives live and is stored too.
    assert state.frame(msg(41)).lines == []
    room.messages.append(msg(41))
    lines = room.answer(state, fx)
    assert texts(lines) == [f"m{n}" for n in range(2, 42)]
    assert state.frame(msg(41)).lines == []  # a late duplicate delivery: never twice
    assert texts(state.frame(msg(42)).lines) == ["m42"]


def test_a_message_stored_late_with_a_slightly_older_id_is_not_lost() -> None:
    # m9 was minted before m10 but stored after it: we saw m10, never m9.
    state = ChatState()
    joined(state, [msg(n) for n in range(1, 9)])
    state.frame(msg(10))
    room = Room([*range(1, 9), 10, 9, *range(11, 31)])
    state.rejoin()
    lines = room.answer(state, state.frame(room.joined()))
    assert texts(lines) == ["m9", *[f"m{n}" for n in range(11, 31)]]


def test_the_start_of_the_room_is_asked_again_after_a_rejoin() -> None:
    state = ChatState()
    joined(state, [msg(5)])
    last: dict[str, Any] = {"type": "history", "room": "general", "messages": []}
    last["nextBefore"] = None
    state.command(c.History(10))
    state.frame(last)
    assert state.command(c.History(10)).lines == ["* no older messages in #general"]
    state.rejoin()
    joined(state, [msg(5)])
    assert state.command(c.History(10)).frames[0]["before"] == mid(5)


def test_history_requests_go_one_at_a_time() -> None:
    # Answers do not say which request they answer: a second waits for the first.
    state = ChatState()
    joined(state, [msg(5)])
    joined(state, [msg(6, "lobby")], room="lobby")
    first = state.command(c.History(10))
    state.current = "lobby"
    second = state.command(c.History(10))
    assert len(first.frames) == 1 and second.frames == []
    fx = state.frame({"type": "history", "room": "general", "messages": [], "nextBefore": None})
    assert fx.frames == [{"action": "history", "room": "lobby", "before": mid(6), "limit": 10}]


def test_sends_refused_by_the_rate_limit_go_again_with_the_same_id() -> None:
    ids = (f"c{n}" for n in itertools.count())
    state = ChatState(me="alice", client_msg_id=lambda: next(ids))
    joined(state, [])
    sent = [state.command(c.Say(f"hi{n}")).frames[0] for n in range(3)]
    state.frame({**msg(1, sender=ALICE), "clientMsgId": "c0"})  # the first is acked
    refusal = {"type": "error", "code": "rate_limited", "action": "send", "retryAfterMs": 2500}
    fx = state.frame(refusal)
    assert fx.timers == [(2.5, "resend")]
    assert fx.lines == ["* rate limited: sending again in 2.5 s"]
    assert state.frame(refusal).timers == []  # one retry for the burst
    again = state.timer("resend").frames
    assert again == sent[1:]
    assert [f["clientMsgId"] for f in again] == ["c1", "c2"]


def test_unacked_sends_go_again_after_a_reconnect() -> None:
    state = ChatState(me="alice", client_msg_id=lambda: "c7")
    joined(state, [])
    frame = state.command(c.Say("into the void")).frames[0]
    state.rejoin()
    assert state.resend() == [frame]
    state.frame({**msg(1, sender=ALICE), "clientMsgId": "c7"})
    assert state.resend() == []


def test_leaving_a_room_you_are_not_in_says_so() -> None:
    state = ChatState()
    joined(state, [])
    fx = state.command(c.Leave("nosuchroom"))
    assert (fx.frames, fx.lines) == ([], ["! you are not in #nosuchroom"])


def test_joined_shows_how_many_are_in_a_big_room() -> None:
    state = ChatState()
    people = [{"id": f"u{n:03d}", "name": f"u{n:03d}"} for n in range(100)]
    fx = state.frame(
        {"type": "joined", "room": "big", "members": people, "memberCount": 101, "history": []}
    )
    assert fx.lines[0].startswith("* you joined #big; 101 here: u000, u001")
    assert fx.lines[0].endswith(", and 1 more")


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

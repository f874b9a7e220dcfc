"""history `after` / `nextAfter`, members pages, `joined` capped at 100 users, and
`feed:` rooms without presence (protocol.md, issue 14's service side)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from handlers.chat import ids, service
from handlers.chat.model import User, encode
from handlers.chat.settings import Settings
from tests.functional.conftest import Gateway, room_of


def ids_of(frames: list[dict[str, Any]]) -> list[str]:
    return [m["id"] for m in frames]


def seed_users(room: str, users: list[User]) -> None:
    """`users` in `room`, one connection each, written as the store writes a join but in
    batches: moto's TransactWriteItems copies the whole table, so a thousand joins
    through the store would take minutes here."""
    settings = Settings.from_env()
    db = boto3.client("dynamodb")
    exp = {"N": str(service.now_ms() // 1000 + settings.connection_ttl_s)}
    items: list[dict[str, Any]] = []
    for i, user in enumerate(users):
        conn = f"Seed{len(room)}{i:010d}="
        who = {"uid": {"S": user.id}, "uname": {"S": user.name}, "expiresAt": exp}
        items += [
            {"pk": {"S": f"C#{conn}"}, "sk": {"S": "META"}, **who, "rooms": {"SS": [room]}},
            {"pk": {"S": f"U#{user.id}"}, "sk": {"S": f"C#{conn}"}, "expiresAt": exp},
            {"pk": {"S": f"R#{room}"}, "sk": {"S": f"C#{conn}"}, **who},
            {
                "pk": {"S": f"RU#{room}"},
                "sk": {"S": f"U#{user.id}"},
                **who,
                "conns": {"SS": [conn]},
            },
        ]
    for start in range(0, len(items), 25):
        batch: list[Any] = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        db.batch_write_item(RequestItems={settings.connections_table: batch})


def seed_named(room: str, count: int) -> list[str]:
    names = [f"u{i:05d}" for i in range(count)]
    seed_users(room, [User(id=name, name=name.upper()) for name in names])
    return names


def test_the_seed_writes_what_a_join_writes(gw: Gateway) -> None:
    """seed_users stands in for joins: a seeded user is a member like a joined one."""
    (a,) = room_of(gw, "alice", room="seeded")
    seed_named("seeded", 1)
    assert [u["id"] for u in gw.send(a, action="members", room="seeded")["members"]] == [
        "alice",
        "u00000",
    ]
    gw.send(a, action="send", room="seeded", text="hi")
    assert gw.posts == 1  # the seeded connection is a recipient


# -- history: after / nextAfter -------------------------------------------------


def test_after_pages_forward_oldest_first_until_next_after_is_null(gw: Gateway) -> None:
    (a,) = room_of(gw, "alice")
    sent = [gw.send(a, action="send", room="lobby", text=f"m{i}")["id"] for i in range(120)]
    seen: list[str] = []
    cursor = sent[4]
    pages = 0
    while cursor is not None:
        page = gw.send(a, action="history", room="lobby", after=cursor)
        assert page["type"] == "history"
        seen += ids_of(page["messages"])
        cursor = page["nextAfter"]
        pages += 1
    assert seen == sent[5:]  # every newer message once, in order
    assert pages == 3  # 50 + 50 + 15: the last page says there is nothing newer


def test_after_page_cursors_on_both_sides(gw: Gateway) -> None:
    (a,) = room_of(gw, "alice")
    sent = [gw.send(a, action="send", room="lobby", text=f"m{i}")["id"] for i in range(10)]
    page = gw.send(a, action="history", room="lobby", after=sent[2], limit=3)
    assert ids_of(page["messages"]) == sent[3:6]
    assert page["nextAfter"] == sent[5]  # newer ones exist
    assert page["nextBefore"] == sent[3]  # and older ones
    back = gw.send(a, action="history", room="lobby", before=page["nextBefore"])
    assert ids_of(back["messages"]) == sent[:3]
    assert back["nextBefore"] is None  # nothing older than the first message
    assert back["nextAfter"] == sent[2]
    last = gw.send(a, action="history", room="lobby", after=sent[6], limit=3)
    assert ids_of(last["messages"]) == sent[7:] and last["nextAfter"] is None


def test_the_newest_page_has_nothing_newer(gw: Gateway) -> None:
    (a,) = room_of(gw, "alice")
    sent = [gw.send(a, action="send", room="lobby", text=f"m{i}")["id"] for i in range(3)]
    page = gw.send(a, action="history", room="lobby")
    assert ids_of(page["messages"]) == sent
    assert page["nextBefore"] is None and page["nextAfter"] is None
    exact = gw.send(a, action="history", room="lobby", limit=3)
    assert exact["nextBefore"] is None  # exactly `limit` messages: still nothing older
    fewer = gw.send(a, action="history", room="lobby", limit=2)
    assert fewer["nextBefore"] == sent[1]


def test_empty_pages_point_at_the_messages_on_their_other_side(gw: Gateway) -> None:
    (a,) = room_of(gw, "alice")
    sent = [gw.send(a, action="send", room="lobby", text=f"m{i}")["id"] for i in range(3)]
    caught_up = gw.send(a, action="history", room="lobby", after=sent[-1])
    assert caught_up["messages"] == [] and caught_up["nextAfter"] is None
    back = gw.send(a, action="history", room="lobby", before=caught_up["nextBefore"])
    assert ids_of(back["messages"]) == sent  # the empty page's nextBefore includes sent[-1]
    start = gw.send(a, action="history", room="lobby", before=sent[0])
    assert start["messages"] == [] and start["nextBefore"] is None
    forward = gw.send(a, action="history", room="lobby", after=start["nextAfter"])
    assert ids_of(forward["messages"]) == sent  # from sent[0] itself
    empty = room_of(gw, "bob", room="quiet")[0]
    nothing = gw.send(empty, action="history", room="quiet", after=ids.new_id())
    assert nothing == {
        "type": "history",
        "room": "quiet",
        "messages": [],
        "nextBefore": None,
        "nextAfter": None,
    }


def test_catch_up_from_a_moment_before_the_last_seen_id(gw: Gateway) -> None:
    """What a reconnecting client does: `after` an id a few seconds before the last one
    it saw (an id minted for a time, not a message), dropping duplicates by id."""
    (a,) = room_of(gw, "alice")
    seen = gw.send(a, action="send", room="lobby", text="seen")
    missed = [gw.send(a, action="send", room="lobby", text=f"x{i}")["id"] for i in range(30)]
    cursor = ids.new_id(seen["ts"] - 5000)
    page = gw.send(a, action="history", room="lobby", after=cursor)
    assert ids_of(page["messages"]) == [seen["id"], *missed]


def test_before_and_after_together_is_bad_request(gw: Gateway) -> None:
    (a,) = room_of(gw, "alice")
    one = gw.send(a, action="send", room="lobby", text="x")["id"]
    reply = gw.send(a, action="history", room="lobby", before=one, after=one)
    assert (reply["type"], reply["code"], reply["action"]) == ("error", "bad_request", "history")
    for bad in ("nope", 5, "", one.lower()):
        reply = gw.send(a, action="history", room="lobby", after=bad)
        assert reply["code"] == "bad_request", bad


def test_a_history_page_fits_one_api_gateway_message(gw: Gateway) -> None:
    """100 messages of 4,000 three-byte characters are ~1.2 MB: the page stops short of
    128 KB and its cursor continues from there."""
    (a,) = room_of(gw, "alice")
    big = "€" * 4000
    sent = [gw.send(a, action="send", room="lobby", text=big)["id"] for _ in range(25)]
    page = gw.send(a, action="history", room="lobby", limit=100)
    size = len(encode(page).encode())
    assert size <= 128 * 1024
    got = ids_of(page["messages"])
    assert 1 <= len(got) < 25 and got == sent[-len(got) :]
    assert page["nextBefore"] == got[0]
    joined = gw.send(gw.connect("bob"), action="join", room="lobby")
    assert len(encode(joined).encode()) <= 128 * 1024
    assert ids_of(joined["history"]) == sent[-len(joined["history"]) :]


# -- joined: at most 100 users, memberCount ---------------------------------------


def test_joined_lists_at_most_100_users_and_counts_them_all(gw: Gateway) -> None:
    seed_named("big", 100)
    late = gw.connect("zz-late", "Late")
    joined = gw.send(late, action="join", room="big")
    assert joined["memberCount"] == 101
    listed = [u["id"] for u in joined["members"]]
    assert len(listed) == 100 and len(set(listed)) == 100
    assert "zz-late" in listed  # the joiner is always among them
    assert listed == sorted(listed)


def test_joined_lists_everybody_up_to_100(gw: Gateway) -> None:
    names = seed_named("full", 99)
    last = gw.connect("u99999")
    joined = gw.send(last, action="join", room="full")
    assert joined["memberCount"] == 100
    assert [u["id"] for u in joined["members"]] == [*names, "u99999"]


def test_member_count_counts_users_not_connections(gw: Gateway) -> None:
    room_of(gw, "alice", "alice", "bob")
    joined = gw.send(gw.connect("alice"), action="join", room="lobby")
    assert joined["memberCount"] == 2
    assert sorted(u["id"] for u in joined["members"]) == ["alice", "bob"]


# -- members: pages by user id ------------------------------------------------------


def test_members_pages_walk_every_user_once_in_id_order(gw: Gateway) -> None:
    names = seed_named("walk", 23)
    (a,) = room_of(gw, "zzz", room="walk")
    gw.send(gw.connect("zzz"), action="join", room="walk")  # a second connection of zzz
    walked: list[str] = []
    after = None
    while True:
        frame: dict[str, Any] = {"action": "members", "room": "walk", "limit": 5}
        if after is not None:
            frame["after"] = after
        page = gw.send(a, **frame)
        assert page["type"] == "members" and len(page["members"]) <= 5
        walked += [u["id"] for u in page["members"]]
        after = page["nextAfter"]
        if after is None:
            break
        assert after == walked[-1]
    assert walked == [*names, "zzz"]
    first = gw.send(a, action="members", room="walk")["members"][0]
    assert first == {"id": "u00000", "name": "U00000"}


def test_members_limit_edges(gw: Gateway) -> None:
    names = seed_named("edge", 1000)
    (a,) = room_of(gw, "zzz", room="edge")
    whole = gw.send(a, action="members", room="edge")  # default limit: 1000
    assert [u["id"] for u in whole["members"]] == names
    assert whole["nextAfter"] == names[-1]
    rest = gw.send(a, action="members", room="edge", after=whole["nextAfter"], limit=1000)
    assert [u["id"] for u in rest["members"]] == ["zzz"] and rest["nextAfter"] is None
    one = gw.send(a, action="members", room="edge", limit=1)
    assert [u["id"] for u in one["members"]] == [names[0]] and one["nextAfter"] == names[0]
    for bad in (0, 1001, "5", True, 2.5):
        reply = gw.send(a, action="members", room="edge", limit=bad)
        assert (reply["type"], reply["code"]) == ("error", "bad_request"), bad
    for bad in ("", 5, "u" * 129):
        reply = gw.send(a, action="members", room="edge", after=bad)
        assert (reply["type"], reply["code"]) == ("error", "bad_request"), bad
    assert gw.send(a, action="members", room="edge", after="~" * 128)["members"] == []


def test_a_members_page_fits_one_api_gateway_message(gw: Gateway) -> None:
    """1,000 users with 128-character ids and long names are ~250 KB: the page stops
    short of 128 KB and `nextAfter` carries on from there."""
    seed_users("wide", [User(id=f"{i:04d}".ljust(128, "x"), name="é" * 64) for i in range(1000)])
    (a,) = room_of(gw, "zzz", room="wide")
    page = gw.send(a, action="members", room="wide")
    assert len(encode(page).encode()) <= 128 * 1024
    assert 100 < len(page["members"]) < 1000
    assert page["nextAfter"] == page["members"][-1]["id"]


# -- feed: rooms: no presence ---------------------------------------------------------


def test_feed_rooms_send_no_presence_and_joined_lists_only_the_joiner(gw: Gateway) -> None:
    a, b = room_of(gw, "alice", "bob", room="feed:cpu")
    c = gw.connect("carol")
    joined = gw.send(c, action="join", room="feed:cpu")
    assert joined["members"] == [{"id": "carol", "name": "carol"}]
    assert joined["memberCount"] == 3
    members = gw.send(c, action="members", room="feed:cpu")["members"]
    assert [u["id"] for u in members] == ["alice", "bob", "carol"]  # members is unchanged
    gw.send(b, action="leave", room="feed:cpu")
    gw.disconnect(c)
    assert gw.take(a) == []  # no join, leave or disconnect presence
    assert gw.posts == 0


def test_presence_still_reaches_ordinary_rooms(gw: Gateway) -> None:
    (a,) = room_of(gw, "alice", room="feedback")  # a name that only starts like a feed
    gw.send(gw.connect("bob"), action="join", room="feedback")
    assert [f["event"] for f in gw.take(a)] == ["join"]


def test_presence_cap_setting(gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    from handlers import adapter

    monkeypatch.setenv("CHAT_PRESENCE_MAX_USERS", "3")
    adapter.settings.cache_clear()
    a, _b = room_of(gw, "alice", "bob")
    c = gw.connect("carol")
    gw.send(c, action="join", room="lobby")
    assert [f["event"] for f in gw.take(a)] == ["join"]  # 3 users: at the cap
    d = gw.connect("dave")
    gw.send(d, action="join", room="lobby")
    assert gw.take(a) == []  # 4 users: past it
    gw.send(d, action="leave", room="lobby")
    assert gw.take(a) == []  # counted as the room was: 4 users, with dave
    gw.send(c, action="leave", room="lobby")
    assert [f["event"] for f in gw.take(a)] == ["leave"]

"""Hypothesis-generated frames through the Lambda handlers (functional tier, `gw` fixture).

Whatever a client sends, it gets an answer it can act on: the frame type of its action,
or an `error` with one of protocol.md's codes; never an exception, never `internal`. And
nothing is left behind: whoami lists exactly the rooms that were joined, members lists
agree with it, and a disconnect removes the user everywhere.
"""

from __future__ import annotations

import itertools
import json
import string
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from tests.functional.conftest import Gateway
from tests.fuzz.profiles import fuzz
from tests.wire import ANSWERS, ERROR_CODES

ACTIONS = tuple(ANSWERS)
_users = itertools.count()

# -- strategies ------------------------------------------------------------------------

# Every code point, lone surrogates included: JSON can carry them as \ud800 escapes.
any_char = st.characters(codec=None, exclude_categories=())
any_text = st.text(any_char, max_size=24)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | any_text
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=12,
)

# Valid JSON cut short somewhere.
truncated_json = json_values.map(json.dumps).flatmap(
    lambda s: st.integers(0, max(len(s) - 1, 0)).map(lambda i: s[:i])
)

_first = string.ascii_letters + string.digits
valid_rooms = st.builds(
    lambda a, b: a + b, st.sampled_from(_first), st.text(_first + "_.:-", max_size=63)
)
rooms = st.one_of(
    valid_rooms,
    valid_rooms.map(lambda r: "feed:" + r[:59]),
    # Almost-valid names: blanks, a bad first character, one too long, non-ASCII look-alikes.
    st.sampled_from(["", " lobby", "lobby ", "-lobby", "l" * 65, "röom", "\uff4cobby", "a/b"]),
    st.text(any_char, max_size=70),
    json_values,
)
# Lengths around the 4000-character limit, in 1- to 4-byte characters.
texts = st.one_of(
    st.text(any_char, max_size=40),
    st.tuples(st.sampled_from("aé€😀"), st.integers(3995, 4005)).map(lambda t: t[0] * t[1]),
    json_values,
)
# Serialized sizes around the 32 KB limit.
datas = st.one_of(
    json_values,
    st.integers(32 * 1024 - 4, 32 * 1024 + 4).map(lambda n: "x" * (n - 2)),
)
fields = st.fixed_dictionaries(
    {},
    optional={
        "room": rooms,
        "text": texts,
        "data": datas,
        "to": st.one_of(any_text, json_values, st.just("x" * 129)),
        "clientMsgId": st.one_of(any_text, json_values, st.just("c" * 65)),
        "before": st.one_of(any_text, json_values, st.just("0" * 26)),
        "limit": st.one_of(st.integers(-2, 102), json_values),
        # Identity spoofing attempts: ignored, whatever they hold.
        "from": json_values,
        "user": json_values,
        "connectionId": json_values,
    },
)
actions = st.one_of(st.sampled_from(ACTIONS), json_values, st.sampled_from(["JOIN", "join "]))


# -- checks ----------------------------------------------------------------------------


def route_of(frame: Any) -> str:
    """The route API Gateway picks: the action when it names one exactly, else $default."""
    action = frame.get("action") if isinstance(frame, dict) else None
    return action if isinstance(action, str) and action in ACTIONS else "$default"


def check_answer(frame: Any, reply: dict[str, Any]) -> None:
    action = frame.get("action") if isinstance(frame, dict) else None
    if reply["type"] == "error":
        assert reply["code"] in ERROR_CODES, reply
        assert isinstance(reply["message"], str) and reply["message"]
        if "action" in reply:  # "when known": never some other action than the one sent
            assert reply["action"] == action, reply
    else:
        assert isinstance(action, str) and action in ANSWERS, (frame, reply)
        assert reply["type"] == ANSWERS[action], (frame, reply)
    # Deliverable to any client: strict JSON (no NaN / Infinity) that encodes as UTF-8.
    json.dumps(reply, ensure_ascii=False, allow_nan=False).encode()


def send_any(gw: Gateway, conn: str, frame: Any) -> dict[str, Any]:
    reply = gw.send_raw(conn, json.dumps(frame), route_of(frame))
    check_answer(frame, reply)
    return reply


def new_user(gw: Gateway) -> tuple[str, str]:
    user = f"fuzz{next(_users)}"
    return user, gw.connect(user)


# -- tests -----------------------------------------------------------------------------


@fuzz(25)
@given(value=json_values)
@example(value={"action": "send", "room": "lobby", "text": "\ud800"})
@example(value={"action": "\udc00"})
@example(value={"action": "direct", "to": "\ud83d", "text": "hi"})
def test_any_json_value_is_answered_by_its_action_or_an_error(gw: Gateway, value: Any) -> None:
    _, conn = new_user(gw)
    reply = send_any(gw, conn, value)
    if not isinstance(value, dict):
        assert reply["code"] == "bad_request"


@fuzz(20)
@given(body=st.one_of(st.text(any_char, max_size=60), truncated_json))
def test_any_text_is_answered(gw: Gateway, body: str) -> None:
    _, conn = new_user(gw)
    try:
        json.loads(body)
    except ValueError:
        parsed = False
    else:
        parsed = True
    reply = gw.send_raw(conn, body)
    assert reply["type"] == "error" and reply["code"] in ERROR_CODES, reply
    if not parsed:
        assert reply["code"] == "bad_request"


@fuzz(40)
@given(action=actions, extra=fields, join_first=st.booleans())
def test_every_action_with_arbitrary_fields_leaves_consistent_state(
    gw: Gateway, action: Any, extra: dict[str, Any], join_first: bool
) -> None:
    user, conn = new_user(gw)
    peer_user, peer = new_user(gw)  # someone online, so `direct` can reach somebody
    if join_first:
        extra.setdefault("to", peer_user)
    joined: set[str] = set()
    room = extra.get("room")
    if join_first:
        first = send_any(gw, conn, {"action": "join", "room": room})
        if first["type"] == "joined":
            joined.add(first["room"])

    frame = {"action": action, **extra}
    reply = send_any(gw, conn, frame)
    if reply["type"] == "joined":
        joined.add(reply["room"])
    elif reply["type"] == "left":
        joined.discard(reply["room"])
    elif reply["type"] in ("message", "direct"):
        assert reply["from"] == {"id": user, "name": user}  # the token's user, whatever was sent
    elif reply["type"] == "whoami":
        assert reply["user"]["id"] == user and reply["connectionId"] == conn

    me = send_any(gw, conn, {"action": "whoami"})
    assert me["rooms"] == sorted(joined)
    for r in joined:
        members = send_any(gw, conn, {"action": "members", "room": r})["members"]
        assert {"id": user, "name": user} in members

    gw.disconnect(conn)
    gw.disconnect(peer)
    for r in joined:  # gone from every room it was in
        _, probe = new_user(gw)
        present = send_any(gw, probe, {"action": "join", "room": r})["members"]
        assert user not in {m["id"] for m in present}
        gw.disconnect(probe)


@fuzz(12)
@given(text=texts, data=datas, use_text=st.booleans(), use_data=st.booleans())
def test_message_bodies_around_the_limits_reach_every_member_intact(
    gw: Gateway, text: Any, data: Any, use_text: bool, use_data: bool
) -> None:
    room = f"limits{next(_users)}"
    _, alice = new_user(gw)
    _, bob = new_user(gw)
    for conn in (alice, bob):
        send_any(gw, conn, {"action": "join", "room": room})
    gw.take(alice)
    frame: dict[str, Any] = {"action": "send", "room": room}
    if use_text:
        frame["text"] = text
    if use_data:
        frame["data"] = data
    reply = send_any(gw, alice, frame)
    delivered = gw.take(bob)
    history = send_any(gw, bob, {"action": "history", "room": room})["messages"]
    if reply["type"] == "error":
        assert delivered == [] and history == []
        return
    assert delivered == [reply] and history == [reply]
    if use_text:
        assert reply["text"] == text
    if use_data:
        assert reply["data"] == data


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


UNPARSEABLE_ELSEWHERE = {
    "nan": "NaN",
    "infinity": "-Infinity",
    "overflow": "1e999",
    "lone surrogate": '"\\ud800"',
    "surrogate key": '{"\\udfff": 1}',
    "too deep": nested(64),
    "far too deep": nested(950),
}


def test_json_other_clients_could_not_parse_is_refused_not_relayed(gw: Gateway) -> None:
    # Python's json module reads all of these; JSON.parse in a browser reads none of them
    # (or the service could not even encode them as UTF-8 to send them on).
    _, alice = new_user(gw)
    _, bob = new_user(gw)
    for conn in (alice, bob):
        send_any(gw, conn, {"action": "join", "room": "strict"})
    gw.take(alice)
    for why, data in UNPARSEABLE_ELSEWHERE.items():
        reply = gw.send_raw(alice, f'{{"action":"send","room":"strict","data":{data}}}', "send")
        assert (reply["type"], reply["code"]) == ("error", "bad_request"), why
    assert gw.take(bob) == []
    # Nesting up to the limit is a JSON value like any other.
    ok = gw.send_raw(alice, f'{{"action":"send","room":"strict","data":{nested(63)}}}', "send")
    assert ok["type"] == "message"
    assert gw.take(bob) == [ok]

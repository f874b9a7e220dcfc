"""Large room fan-outs split across invocations: the message and publish handlers hand
shards to the fan-out function through the real boto3 `lambda` client, whose Invoke
calls are answered by a botocore hook (202 as Lambda does, or a refusal); the recorded
payloads are then run through `handlers.fanout` as Lambda would run them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.functional.conftest import FANOUT_FUNCTION as FUNCTION
from tests.functional.conftest import SHARD, Context, Gateway, LambdaService
from tests.functional.test_publish import publish


def room_of(gw: Gateway, size: int, room: str = "big") -> list[str]:
    """`size` connections of one user in `room` (one user: no presence fan-out)."""
    conns = [gw.connect("crowd") for _ in range(size)]
    for c in conns:
        gw.send(c, action="join", room=room)
    for c in conns:
        gw.take(c)
    return conns


def test_a_room_over_the_shard_size_is_delivered_through_shards(
    gw: Gateway, lam: LambdaService
) -> None:
    conns = room_of(gw, 25)
    sender = conns[0]
    ack = gw.send(sender, action="send", room="big", text="to everyone")
    assert ack["type"] == "message"
    # 24 recipients: 10 delivered by the message function, 10 + 4 handed off.
    assert len([c for c in conns[1:] if gw.inbox.get(c)]) == SHARD
    # Hand-offs start side by side: their order is not fixed.
    assert sorted((f, k, len(e["connectionIds"])) for f, k, e in lam.invokes) == [
        (FUNCTION, "Event", 4),
        (FUNCTION, "Event", 10),
    ]
    results = lam.run_all()
    assert sorted(r["delivered"] for r in results) == [4, 10]
    for c in conns[1:]:
        (frame,) = gw.take(c)
        assert frame["id"] == ack["id"] and frame["text"] == "to everyone"
    assert gw.take(sender) == []  # the ack was its route response, not a delivery


def test_a_room_at_the_shard_size_is_delivered_in_line(gw: Gateway, lam: LambdaService) -> None:
    conns = room_of(gw, SHARD + 1)  # the sender plus exactly one shard of recipients
    gw.send(conns[0], action="send", room="big", text="hi")
    assert lam.invokes == []
    assert all(len(gw.take(c)) == 1 for c in conns[1:])


def test_the_fanout_function_removes_the_gone_members_of_its_shard(
    gw: Gateway, lam: LambdaService
) -> None:
    conns = room_of(gw, 25)
    # Ids sort as created: the last ones fall in the handed-off shards.
    stale = conns[-1]
    gw.stale.add(stale)
    gw.send(conns[0], action="send", room="big", text="one")
    assert sorted(r["gone"] for r in lam.run_all()) == [0, 1]
    members = gw.send(conns[0], action="members", room="big")["members"]
    assert members  # the user is still there through the live connections
    gw.inbox.clear()
    gw.send(conns[0], action="send", room="big", text="two")
    handed = [cid for _, _, e in lam.invokes for cid in e["connectionIds"]]
    assert stale not in handed and len(handed) == 13


def test_a_shard_that_cannot_be_handed_off_is_delivered_in_line(
    gw: Gateway, lam: LambdaService
) -> None:
    conns = room_of(gw, 25)
    lam.refuse = True
    ack = gw.send(conns[0], action="send", room="big", text="nothing lost")
    assert lam.invokes == []
    for c in conns[1:]:
        (frame,) = gw.take(c)
        assert frame["id"] == ack["id"]


def test_direct_messages_are_never_handed_off(gw: Gateway, lam: LambdaService) -> None:
    tabs = [gw.connect("bob") for _ in range(SHARD + 5)]
    alice = gw.connect("alice")
    gw.send(alice, action="direct", to="bob", text="psst")
    assert lam.invokes == []
    assert all(len(gw.take(t)) == 1 for t in tabs)


def test_publish_reports_what_it_delivered_and_what_it_queued(
    gw: Gateway, lam: LambdaService
) -> None:
    conns = room_of(gw, 25, room="feed:load")
    status, answer = publish("feed:load", '{"data": 1}')
    assert status == 202 and (answer["delivered"], answer["queued"]) == (10, 15)
    lam.run_all()
    assert all(gw.take(c)[0]["id"] == answer["id"] for c in conns)


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"room": "big", "payload": "{}", "connectionIds": []},
        {"room": "", "payload": "{}", "connectionIds": ["a"]},
        {"room": "big", "connectionIds": ["a"]},
    ],
)
def test_the_fanout_function_refuses_an_event_it_cannot_read(
    gw: Gateway, lam: LambdaService, event: dict[str, Any]
) -> None:
    from handlers import fanout
    from handlers.events import BadEvent

    with pytest.raises(BadEvent):
        fanout.handler(event, Context())
    assert gw.posts == 0

"""Rooms past one partition: with CHAT_ROOM_PARTITION_SIZE tiny, a room of a few dozen
connections spreads its memberships over several partitions, and every path that reads
or writes them is run through the handlers (moto's DynamoDB in-process; deliveries over
real HTTP to tests/mgmt_peer.py; hand-offs through boto3's `lambda` client, answered by
the hook in test_fanout_shards.py and run through `handlers.fanout` as Lambda would)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from handlers.chat import service, shards
from handlers.chat.settings import Settings
from handlers.chat.store import (
    LAYOUT_MARGIN_S,
    Layout,
    Store,
    bucket,
    partition_key,
)
from tests.functional.conftest import Context, Gateway, LambdaService
from tests.functional.test_races import once

SIZE = 8  # CHAT_ROOM_PARTITION_SIZE here: rooms past 8 connections spread


@pytest.fixture
def spread(lam: LambdaService, monkeypatch: pytest.MonkeyPatch) -> LambdaService:
    """`lam`, on a service whose rooms spread past SIZE connections."""
    from handlers import adapter

    monkeypatch.setenv("CHAT_ROOM_PARTITION_SIZE", str(SIZE))
    adapter.settings.cache_clear()
    return lam


def store() -> Store:
    from handlers.chat import aws

    return Store(aws.dynamodb(), Settings.from_env())


def now() -> int:
    return service.now_ms()


def layout(room: str) -> Layout:
    return store().room_layout(room, now())


def items(pk: str) -> list[dict[str, Any]]:
    """Every item of partition `pk` in the connections table, expired or not."""
    found: list[dict[str, Any]] = boto3.client("dynamodb").query(
        TableName=Settings.from_env().connections_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": pk}},
    )["Items"]
    return found


def placement(room: str) -> dict[str, list[int]]:
    """Each connection with a membership of `room`: the partitions it has one in (every
    partition a reader could read, and a few past them)."""
    where: dict[str, list[int]] = {}
    for index in range(layout(room).read_at(now() // 1000) + 4):
        for item in items(partition_key(room, index)):
            if item["sk"]["S"].startswith("C#"):
                where.setdefault(item["sk"]["S"][2:], []).append(index)
    return where


def settle(gw: Gateway, lam: LambdaService, conns: list[str]) -> None:
    """Run every queued hand-off, then empty the inboxes."""
    lam.run_all()
    for c in conns:
        gw.take(c)


def spread_room(
    gw: Gateway, lam: LambdaService, room: str, size: int, user: Callable[[int], str]
) -> list[str]:
    """`size` connections (of users `user(i)`) joined to `room`, which has spread past
    one partition by the time they are all in: a message now and then (each one reads
    the base partition and grows the room's layout as its size calls for)."""
    conns: list[str] = []
    for i in range(size):
        conns.append(gw.connect(user(i)))
        assert gw.send(conns[-1], action="join", room=room)["type"] == "joined"
        if i % SIZE == SIZE - 1:
            gw.send(conns[0], action="send", room=room, text="grow")
        settle(gw, lam, conns)
    gw.send(conns[0], action="send", room=room, text="settled")
    settle(gw, lam, conns)
    assert layout(room).write > 1
    assert len({i for where in placement(room).values() for i in where}) > 2
    return conns


def one_user(_: int) -> str:
    return "crowd"  # one user: no presence fan-out while the room fills


def many_users(i: int) -> str:
    return f"user{i:03d}"


class Reads:
    """The membership partitions each DynamoDB Query of the handlers reads."""

    def __init__(self) -> None:
        from handlers.chat import aws

        self.pks: list[str] = []
        self._table = Settings.from_env().connections_table
        aws.dynamodb().meta.events.register("provide-client-params.dynamodb.Query", self._seen)

    def _seen(self, params: dict[str, Any], **_: Any) -> None:
        pk = params["ExpressionAttributeValues"][":pk"]["S"]
        if params["TableName"] == self._table and pk.startswith("R#"):
            self.pks.append(pk)

    def take(self) -> list[str]:
        pks, self.pks = self.pks, []
        return pks


@pytest.fixture
def reads(spread: LambdaService) -> Iterator[Reads]:
    from handlers.chat import aws

    recorder = Reads()
    yield recorder
    aws.dynamodb().meta.events.unregister(
        "provide-client-params.dynamodb.Query",
        recorder._seen,
    )


# -- the layout -------------------------------------------------------------------------


def test_a_room_keeps_one_partition_until_it_passes_the_size(
    gw: Gateway, spread: LambdaService, reads: Reads
) -> None:
    conns = [gw.connect("crowd") for _ in range(SIZE)]
    for c in conns:
        gw.send(c, action="join", room="small")
    reads.take()
    gw.send(conns[0], action="send", room="small", text="hi")
    assert reads.take() == ["R#small"]  # the one Query a message always cost
    assert spread.invokes == []
    assert layout("small") == Layout()  # no layout item: nothing more to read or write
    assert set(placement("small")) == set(conns)
    assert all(where == [0] for where in placement("small").values())


def test_a_room_that_passes_the_size_spreads_its_new_members(
    gw: Gateway, spread: LambdaService
) -> None:
    conns = [gw.connect("crowd") for _ in range(SIZE + 1)]
    for c in conns:
        gw.send(c, action="join", room="growing")
    gw.send(conns[0], action="send", room="growing", text="grow")
    # 9 connections in partitions of 8: 3 partitions, so that each is about half full.
    assert layout("growing").write == 3
    newcomers = [gw.connect("crowd") for _ in range(12)]
    for c in newcomers:
        gw.send(c, action="join", room="growing")
    where = placement("growing")
    # Those already in stay where they are; each newcomer went where its id says.
    assert all(where[c] == [0] for c in conns)
    assert all(where[c] == [bucket(c) % 3] for c in newcomers)
    assert {i for c in newcomers for i in where[c]} == {0, 1, 2}
    rooms = {c: gw.send(c, action="whoami")["rooms"] for c in newcomers}
    assert all(r == ["growing"] for r in rooms.values())


# -- messages ---------------------------------------------------------------------------


@pytest.mark.parametrize("branches", [shards.BRANCHES, 2])
def test_each_fanout_invocation_reads_and_delivers_only_its_own_partition(
    gw: Gateway,
    spread: LambdaService,
    reads: Reads,
    monkeypatch: pytest.MonkeyPatch,
    branches: int,
) -> None:
    from handlers import fanout

    monkeypatch.setattr(shards, "BRANCHES", branches)  # 2: a tree several hand-offs deep
    conns = spread_room(gw, spread, "big", 40, one_user)
    extent = layout("big").read_at(now() // 1000)
    reads.take()
    ack = gw.send(conns[0], action="send", room="big", text="to all")
    assert reads.take() == ["R#big"]  # the message function reads the base alone
    read_by_invocation: list[list[str]] = []
    while spread.invokes:
        _, _, event = spread.invokes.pop(0)
        fanout.handler(event, Context())
        if "partitions" in event:
            read_by_invocation.append(reads.take())
        else:
            assert reads.take() == []  # a list of connections: nothing to read
    assert all(len(pks) == 1 for pks in read_by_invocation)
    read = sorted(pk for pks in read_by_invocation for pk in pks)
    assert read == sorted(partition_key("big", i) for i in range(1, extent))
    for c in conns[1:]:
        assert [f["id"] for f in gw.take(c)] == [ack["id"]]  # once each
    assert gw.take(conns[0]) == []  # the sender's copy is its route response


def test_a_retried_client_msg_id_in_a_spread_room_is_not_delivered_again(
    gw: Gateway, spread: LambdaService
) -> None:
    conns = spread_room(gw, spread, "dedup", 30, one_user)
    first = gw.send(conns[0], action="send", room="dedup", text="once", clientMsgId="k1")
    settle(gw, spread, conns)
    again = gw.send(conns[0], action="send", room="dedup", text="once", clientMsgId="k1")
    assert again["id"] == first["id"]
    assert spread.invokes == []  # every partition was handed off: its delivery finished
    assert all(gw.take(c) == [] for c in conns)


def test_a_partition_whose_hand_off_fails_is_read_and_delivered_in_line(
    gw: Gateway, spread: LambdaService, reads: Reads
) -> None:
    conns = spread_room(gw, spread, "refused", 30, one_user)
    extent = layout("refused").read_at(now() // 1000)
    spread.refuse = True
    reads.take()
    ack = gw.send(conns[0], action="send", room="refused", text="nothing lost")
    assert sorted(set(reads.take())) == sorted(partition_key("refused", i) for i in range(extent))
    for c in conns[1:]:
        assert [f["id"] for f in gw.take(c)] == [ack["id"]]


def test_a_join_while_the_room_grows_gets_the_message_live_or_in_its_history(
    gw: Gateway, spread: LambdaService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The send reads the base partition (one partition, then); before anything else of
    it runs, another reader spreads the room and alice joins into a new partition."""
    conns = [gw.connect("crowd") for _ in range(SIZE)]
    for c in conns:
        gw.send(c, action="join", room="race")
    alice = gw.connect("alice")
    while bucket(alice) % 4 == 0:  # one whose membership goes outside the base
        alice = gw.connect("alice")
    joined: list[dict[str, Any]] = []

    def grown_and_alice_joins() -> None:
        assert store().set_layout("race", Layout(), 4, now())
        joined.append(gw.send(alice, action="join", room="race"))

    read_partition = Store.read_partition
    armed = [True]

    def base_then_race(self: Store, room: str, index: int, now_ms: int) -> Any:
        part = read_partition(self, room, index, now_ms)
        if armed[0] and room == "race":
            armed[0] = False
            grown_and_alice_joins()
        return part

    monkeypatch.setattr(Store, "read_partition", base_then_race)
    ack = gw.send(conns[0], action="send", room="race", text="during the growth")
    spread.run_all()
    assert placement("race")[alice] == [bucket(alice) % 4]
    history = [m["id"] for m in joined[0]["history"]]
    live = [f["id"] for f in gw.take(alice) if f["type"] == "message"]
    assert ack["id"] in history + live
    # And the next message finds her in her partition.
    later = gw.send(conns[0], action="send", room="race", text="after")
    spread.run_all()
    assert [f["id"] for f in gw.take(alice) if f["type"] == "message"] == [later["id"]]


def test_a_room_that_shrinks_still_reads_where_its_members_are(
    gw: Gateway, spread: LambdaService
) -> None:
    conns = spread_room(gw, spread, "ebb", 40, one_user)
    wide = layout("ebb")
    where = placement("ebb")
    outer = [c for c in conns if where[c] != [0]]
    stay = [conns[0], *outer[:2]]
    for c in conns:
        if c not in stay:
            gw.disconnect(c)
    gw.send(conns[0], action="send", room="ebb", text="who is left")
    settle(gw, spread, stay)
    narrow = layout("ebb")
    assert narrow.write == 1  # new joins go to the base again
    assert narrow.read_at(now() // 1000) == wide.read_at(now() // 1000)  # but all is read
    ack = gw.send(conns[0], action="send", room="ebb", text="still here?")
    spread.run_all()
    assert all([f["id"] for f in gw.take(c)] == [ack["id"]] for c in stay[1:])
    # Once every membership written under the wide layout has expired, only the base is.
    ttl = Settings.from_env().connection_ttl_s
    later = now() + (ttl + LAYOUT_MARGIN_S + 1) * 1000
    assert narrow.read_at(later // 1000) == 1


def test_a_join_keeps_the_layout_alive_as_long_as_its_membership(
    gw: Gateway, spread: LambdaService
) -> None:
    spread_room(gw, spread, "kept", 20, one_user)
    ttl = Settings.from_env().connection_ttl_s
    # The layout item was last extended long ago: it would expire before a membership
    # written now.
    soon = now() // 1000 + ttl
    boto3.client("dynamodb").update_item(
        TableName=Settings.from_env().connections_table,
        Key={"pk": {"S": "R#kept"}, "sk": {"S": "#ROOM"}},
        UpdateExpression="SET expiresAt = :e",
        ExpressionAttributeValues={":e": {"N": str(soon)}},
    )
    before = layout("kept")
    late = gw.connect("crowd")
    while bucket(late) % before.write == 0:  # a join outside the base
        late = gw.connect("crowd")
    gw.send(late, action="join", room="kept")
    after = layout("kept")
    assert after.expires_at >= now() // 1000 + ttl + LAYOUT_MARGIN_S
    assert after.write == before.write
    assert placement("kept")[late] == [bucket(late) % before.write]


# -- presence, members, counts ----------------------------------------------------------


def test_presence_reaches_every_member_of_a_spread_room_once(
    gw: Gateway, spread: LambdaService
) -> None:
    conns = spread_room(gw, spread, "hall", 30, many_users)
    newcomer = gw.connect("newcomer")
    gw.send(newcomer, action="join", room="hall")
    spread.run_all()

    def presence(c: str) -> list[tuple[str, str]]:
        return [(f["event"], f["user"]["id"]) for f in gw.take(c) if f["type"] == "presence"]

    assert all(presence(c) == [("join", "newcomer")] for c in conns)
    assert presence(newcomer) == []
    gw.send(newcomer, action="leave", room="hall")
    spread.run_all()
    assert all(presence(c) == [("leave", "newcomer")] for c in conns)
    gone = conns[-1]
    gw.disconnect(gone)
    spread.run_all()
    assert all(presence(c) == [("leave", "user029")] for c in conns[:-1])


def test_members_pages_walk_every_user_of_a_spread_room_once(
    gw: Gateway, spread: LambdaService
) -> None:
    conns = spread_room(gw, spread, "roll", 30, many_users)
    seen: list[str] = []
    after = None
    while True:
        frame: dict[str, Any] = {"action": "members", "room": "roll", "limit": 7}
        if after is not None:
            frame["after"] = after
        page = gw.send(conns[0], **frame)
        seen += [u["id"] for u in page["members"]]
        after = page["nextAfter"]
        if after is None:
            break
    assert seen == [many_users(i) for i in range(30)]  # each once, sorted by id
    extra = gw.connect("zed")
    joined = gw.send(extra, action="join", room="roll")
    assert joined["memberCount"] == 31
    assert [u["id"] for u in joined["members"]] == [*seen, "zed"]


# -- leaving: leave, $disconnect, gone --------------------------------------------------


def test_leave_and_rejoin_in_a_spread_room_keep_one_membership(
    gw: Gateway, spread: LambdaService
) -> None:
    conns = spread_room(gw, spread, "door", 30, one_user)
    where = placement("door")
    outer = next(c for c in conns if where[c] != [0])
    assert gw.send(outer, action="leave", room="door")["type"] == "left"
    assert outer not in placement("door")
    assert gw.send(outer, action="whoami")["rooms"] == []
    gw.send(outer, action="join", room="door")
    assert len(placement("door")[outer]) == 1
    assert gw.send(outer, action="whoami")["rooms"] == ["door"]


def test_two_joins_of_one_connection_racing_into_a_spread_room_write_one_membership(
    gw: Gateway, spread: LambdaService, monkeypatch: pytest.MonkeyPatch
) -> None:
    conns = spread_room(gw, spread, "twice", 20, one_user)
    late = gw.connect("crowd")
    racer: list[dict[str, Any]] = []
    once(
        monkeypatch,
        Store,
        "add_membership",
        lambda: racer.append(gw.send(late, action="join", room="twice")),
    )
    second = gw.send(late, action="join", room="twice")
    assert racer[0]["type"] == second["type"] == "joined"
    assert len(placement("twice")[late]) == 1
    assert gw.send(late, action="whoami")["rooms"] == ["twice"]
    del conns


def test_disconnect_removes_memberships_from_every_partition(
    gw: Gateway, spread: LambdaService
) -> None:
    conns = spread_room(gw, spread, "exit", 30, one_user)
    gw.send(conns[1], action="join", room="other")
    for c in conns[1:]:
        gw.disconnect(c)
    assert set(placement("exit")) == {conns[0]}
    assert set(placement("other")) == set()
    posts = gw.posts
    gw.send(conns[0], action="send", room="exit", text="alone")
    spread.run_all()
    assert gw.posts == posts  # nobody else to post to, in any partition


def test_a_gone_member_of_a_handed_off_partition_is_removed_from_it(
    gw: Gateway, spread: LambdaService
) -> None:
    conns = spread_room(gw, spread, "stale", 30, many_users)
    where = placement("stale")
    ghost = next(c for c in conns[1:] if where[c] != [0])
    gw.stale.add(ghost)
    gw.send(conns[0], action="send", room="stale", text="who is here")
    spread.run_all()
    assert ghost not in placement("stale")
    left = [
        c
        for c in conns
        if c != ghost and [f["event"] for f in gw.take(c) if f["type"] == "presence"] == ["leave"]
    ]
    assert len(left) == len(conns) - 1  # every other member told once


def test_an_orphan_membership_of_an_outer_partition_is_removed_by_the_fanout(
    gw: Gateway, spread: LambdaService
) -> None:
    """The connection record is gone but a membership is left (its $disconnect never
    ran to the end): the invocation that reads that partition removes it."""
    conns = spread_room(gw, spread, "orphan", 30, one_user)
    where = placement("orphan")
    ghost = next(c for c in conns[1:] if where[c] != [0])
    boto3.client("dynamodb").delete_item(
        TableName=Settings.from_env().connections_table,
        Key={"pk": {"S": f"C#{ghost}"}, "sk": {"S": "META"}},
    )
    gw.stale.add(ghost)
    gw.send(conns[0], action="send", room="orphan", text="anyone?")
    spread.run_all()
    assert ghost not in placement("orphan")


# -- the fan-out function's event -------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        {"room": "big", "payload": "{}"},  # neither kind
        {"room": "big", "payload": "{}", "connectionIds": ["a"], "partitions": [1, 2]},
        {"room": "big", "payload": "{}", "partitions": [0, 2]},  # the base is never handed off
        {"room": "big", "payload": "{}", "partitions": [3, 3]},
        {"room": "big", "payload": "{}", "partitions": [1, 5000]},
        {"room": "big", "payload": "{}", "connectionIds": ["a"], "partition": -1},
    ],
)
def test_the_fanout_function_refuses_a_partition_event_it_cannot_read(
    gw: Gateway, spread: LambdaService, event: dict[str, Any]
) -> None:
    from handlers import fanout
    from handlers.events import BadEvent

    with pytest.raises(BadEvent):
        fanout.handler(json.loads(json.dumps(event)), Context())
    assert gw.posts == 0

"""A hypothesis state machine over the handlers: users with several connections join,
leave, send, ask for members, disconnect, or go stale (their Management API POST answers
410, as when `$disconnect` never ran), or leave while a join is running; the service
must agree with a simple model at every step, and never answer `internal`.

- whoami lists exactly the rooms the connection joined and has not left;
- members lists every user with a live connection in the room, and nobody else but stale
  connections that no fan-out has reached yet (a join handled after $disconnect leaves
  nothing behind);
- a send reaches every other live connection in the room exactly once and no connection
  outside it, and afterwards no stale connection is left in that room.
"""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    rule,
    run_state_machine_as_test,
)

from handlers.chat.model import User
from handlers.chat.store import Store
from tests.functional.conftest import Gateway
from tests.fuzz.profiles import explore

_runs = itertools.count()


class Model:
    """What the service should know: each connection's user, rooms, and whether it's live."""

    def __init__(self) -> None:
        self.user: dict[str, str] = {}
        self.rooms: dict[str, set[str]] = {}
        self.stale: set[str] = set()

    def in_room(self, room: str, *, stale: bool) -> set[str]:
        return {
            c for c, rooms in self.rooms.items() if room in rooms and (c in self.stale) == stale
        }

    def users(self, conns: set[str]) -> set[str]:
        return {self.user[c] for c in conns}


def machine(gw: Gateway) -> type[RuleBasedStateMachine]:
    class Membership(RuleBasedStateMachine):
        live = Bundle("live")

        def __init__(self) -> None:
            super().__init__()
            run = next(_runs)
            self.users = [f"m{run}u{i}" for i in range(3)]
            self.room_names = [f"m{run}-room{i}" for i in range(3)]
            self.model = Model()

        def _answer(self, conn: str, **frame: Any) -> dict[str, Any]:
            return gw.send(conn, **frame)

        @rule(target=live, user=st.integers(0, 2))
        def connect(self, user: int) -> str:
            conn = gw.connect(self.users[user])
            self.model.user[conn] = self.users[user]
            self.model.rooms[conn] = set()
            return conn

        @rule(conn=live, room=st.integers(0, 2))
        def join(self, conn: str, room: int) -> None:
            name = self.room_names[room]
            reply = self._answer(conn, action="join", room=name)
            assert reply["type"] == "joined"
            self.model.rooms[conn].add(name)
            members = {m["id"] for m in reply["members"]}
            self._check_members(name, members)

        @rule(conn=live, room=st.integers(0, 2))
        def leave(self, conn: str, room: int) -> None:
            name = self.room_names[room]
            assert self._answer(conn, action="leave", room=name)["type"] == "left"
            self.model.rooms[conn].discard(name)

        @rule(conn=live, room=st.integers(0, 2), text=st.text(min_size=1, max_size=8))
        def send(self, conn: str, room: int, text: str) -> None:
            name = self.room_names[room]
            reply = self._answer(conn, action="send", room=name, text=text)
            if name not in self.model.rooms[conn]:
                assert (reply["type"], reply["code"]) == ("error", "not_member")
                return
            assert reply["type"] == "message" and reply["text"] == text
            members = self.model.in_room(name, stale=False)
            for other in members - {conn}:
                got = [f for f in gw.take(other) if f.get("id") == reply["id"]]
                assert got == [reply], other
            for outsider in set(self.model.rooms) - members:  # nothing leaks out of the room
                assert all(f.get("id") != reply["id"] for f in gw.inbox.get(outsider, []))
            # The fan-out met every stale connection in the room: 410, removed.
            for gone in self.model.in_room(name, stale=True):
                del self.model.rooms[gone], self.model.user[gone]
                self.model.stale.discard(gone)

        @rule(conn=live, room=st.integers(0, 2))
        def members(self, conn: str, room: int) -> None:
            name = self.room_names[room]
            reply = self._answer(conn, action="members", room=name)
            if name not in self.model.rooms[conn]:
                assert (reply["type"], reply["code"]) == ("error", "not_member")
                return
            self._check_members(name, {m["id"] for m in reply["members"]})

        @rule(conn=consumes(live))
        def disconnect(self, conn: str) -> None:
            gw.disconnect(conn)
            del self.model.rooms[conn], self.model.user[conn]

        @rule(conn=consumes(live), room=st.integers(0, 2))
        def join_racing_disconnect(self, conn: str, room: int) -> None:
            """The client leaves while its join runs: $disconnect lands between the join's
            read and its write (a connection's invocations run concurrently). The late
            write must not bring the connection back: no ghost, no answer."""
            name = self.room_names[room]
            original = Store.add_membership

            def racing(store: Store, conn_id: str, user: User, room: str, now_ms: int) -> bool:
                Store.add_membership = original  # type: ignore[method-assign]
                gw.disconnect(conn)
                return original(store, conn_id, user, room, now_ms)

            if name in self.model.rooms[conn]:
                gw.disconnect(conn)  # no write to race with: the join comes after it
            else:
                Store.add_membership = racing  # type: ignore[method-assign,assignment]
            try:
                assert gw.late(conn, action="join", room=name) == {"statusCode": 200}
            finally:
                Store.add_membership = original  # type: ignore[method-assign]
            gw.stale.add(conn)  # the socket is gone: POSTs answer 410
            del self.model.rooms[conn], self.model.user[conn]

        @rule(conn=consumes(live))
        def go_stale(self, conn: str) -> None:
            gw.stale.add(conn)  # the socket is gone but $disconnect never ran
            self.model.stale.add(conn)

        @invariant()
        def whoami_agrees(self) -> None:
            for conn, rooms in self.model.rooms.items():
                if conn not in self.model.stale:
                    me = self._answer(conn, action="whoami")
                    assert me["rooms"] == sorted(rooms), conn

        def _check_members(self, room: str, members: set[str]) -> None:
            live = self.model.users(self.model.in_room(room, stale=False))
            maybe = self.model.users(self.model.in_room(room, stale=True))
            assert live <= members <= live | maybe, (room, members, live, maybe)

        def teardown(self) -> None:
            for conn in list(self.model.rooms):
                if conn not in self.model.stale:
                    gw.disconnect(conn)
                gw.inbox.pop(conn, None)

    return Membership


def test_membership_agrees_with_the_model(gw: Gateway) -> None:
    explore(
        lambda chosen: run_state_machine_as_test(machine(gw), settings=chosen),
        fast=10,
        stateful_step_count=25,
    )

"""A join and a send to the same room, at the same time: the joiner gets the message,
live or in the `joined` history, whatever the interleaving of their DynamoDB calls."""

from __future__ import annotations

from typing import Any

import pytest

from handlers.chat.store import Store
from tests.functional.conftest import Gateway


def test_a_join_between_the_send_reading_members_and_anything_after(
    gw: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    bob, alice = gw.connect("bob"), gw.connect("alice")
    gw.send(bob, action="join", room="lobby")
    read_partition = Store.read_partition
    joined: list[dict[str, Any]] = []
    armed = True

    def members_then_alice_joins(self: Store, room: str, index: int, now_ms: int) -> Any:
        nonlocal armed
        members = read_partition(self, room, index, now_ms)
        if armed:  # bob's send read the members; alice's whole join runs now
            armed = False
            joined.append(gw.send(alice, action="join", room="lobby"))
        return members

    monkeypatch.setattr(Store, "read_partition", members_then_alice_joins)
    ack = gw.send(bob, action="send", room="lobby", text="hello")
    assert ack["type"] == "message"

    history = [m["id"] for m in joined[0]["history"]]
    live = [f["id"] for f in gw.take(alice) if f.get("type") == "message"]
    assert ack["id"] in history + live

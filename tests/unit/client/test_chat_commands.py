"""How typed lines are understood."""

from __future__ import annotations

import pytest

from client.chat import commands as c


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("hello there\n", c.Say("hello there")),
        ("//join is a word", c.Say("/join is a word")),
        ("/join #general", c.Join("general")),
        ("/leave", c.Leave(None)),
        ("/leave lobby", c.Leave("lobby")),
        ("/room lobby", c.Switch("lobby")),
        ("/members", c.Members(None)),
        ("/history", c.History(20)),
        ("/history 5", c.History(5)),
        ("/dm bob are you there?", c.Direct("bob", "are you there?")),
        ("/msg @bob hi", c.Direct("bob", "hi")),
        ("/WHOAMI", c.WhoAmI()),
        ("/quit", c.Quit()),
    ],
)
def test_lines_become_commands(line: str, command: c.Command) -> None:
    assert c.parse(line) == command


def test_blank_lines_do_nothing() -> None:
    assert c.parse("   \n") is None


@pytest.mark.parametrize(
    ("line", "hint"),
    [
        ("/join", "usage: /join ROOM"),
        ("/join bad/room", "not a room name"),
        ("/join bad room!", "not a room name: 'bad room!'"),
        ("/leave two rooms", "not a room name"),
        ("/history 500", "N from 1 to 100"),
        ("/dm bob", "usage: /dm USER TEXT"),
        ("/frobnicate", "unknown command /frobnicate"),
    ],
)
def test_mistakes_get_a_hint_not_a_crash(line: str, hint: str) -> None:
    result = c.parse(line)
    assert isinstance(result, c.Invalid)
    assert hint in result.reason

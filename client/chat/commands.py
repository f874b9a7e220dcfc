"""What a typed line means: a slash command or text for the current room.

Parsing only; `client.chat.app` carries the commands out. Unknown or malformed commands
come back as `Invalid` with the message to show, never as an exception.
"""

from __future__ import annotations

from dataclasses import dataclass

from client.protocol import HISTORY_PAGE_MAX, ROOM_RULE, valid_room

HELP = """\
commands:
  text                 send to the current room (start with // to send a leading /)
  /join ROOM           join a room and make it current
  /leave [ROOM]        leave a room (default: the current one)
  /room ROOM           switch the current room (among joined rooms)
  /rooms               list the rooms you are in
  /members [ROOM]      who is in the room
  /history [N]         the next N older messages of the current room (default 20)
  /dm USER TEXT        direct message to a user id (alias /msg)
  /whoami              your user, connection and rooms
  /ping                check the connection
  /help                this text
  /quit                leave (Ctrl-D too)"""


# The slash commands, for completion; those whose argument is a room.
VERBS = (
    "join", "leave", "room", "rooms", "members", "history", "dm", "msg",
    "whoami", "ping", "help", "quit",
)  # fmt: skip
ROOM_VERBS = ("join", "leave", "room", "members")
ARG_VERBS = ("join", "leave", "room", "members", "history", "dm", "msg")


@dataclass(frozen=True)
class Say:
    text: str


@dataclass(frozen=True)
class Join:
    room: str


@dataclass(frozen=True)
class Leave:
    room: str | None


@dataclass(frozen=True)
class Switch:
    room: str


@dataclass(frozen=True)
class Rooms:
    pass


@dataclass(frozen=True)
class Members:
    room: str | None


@dataclass(frozen=True)
class History:
    limit: int


@dataclass(frozen=True)
class Direct:
    to: str
    text: str


@dataclass(frozen=True)
class WhoAmI:
    pass


@dataclass(frozen=True)
class Ping:
    pass


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class Quit:
    pass


@dataclass(frozen=True)
class Invalid:
    reason: str


Command = (
    Say | Join | Leave | Switch | Rooms | Members | History | Direct | WhoAmI | Ping | Help | Quit
)


def _room(arg: str, usage: str) -> str | Invalid:
    """The room named by the whole of `arg`: `/join bad room!` is refused, not read as `bad`."""
    name = arg.lstrip("#")
    if not name:
        return Invalid(f"usage: {usage}")
    if not valid_room(name):
        return Invalid(f"not a room name: {arg!r} ({ROOM_RULE})")
    return name


def parse(line: str) -> Command | Invalid | None:
    """The command typed on `line`, or None for a blank line."""
    line = line.rstrip("\r\n")
    if not line.strip():
        return None
    if line.startswith("//"):
        return Say(line[1:])
    if not line.startswith("/"):
        return Say(line)
    verb, _, rest = line[1:].partition(" ")
    verb, rest = verb.lower(), rest.strip()
    simple: dict[str, Command] = {
        "rooms": Rooms(),
        "whoami": WhoAmI(),
        "ping": Ping(),
        "help": Help(),
        "quit": Quit(),
        "exit": Quit(),
    }
    if verb in simple:
        return simple[verb]
    if verb in ("join", "room", "switch"):
        usage = f"/{verb} ROOM"
        name = _room(rest, usage)
        if isinstance(name, Invalid):
            return name
        return Join(name) if verb == "join" else Switch(name)
    if verb in ("leave", "members"):
        room: str | None = None
        if rest:
            name = _room(rest, f"/{verb} [ROOM]")
            if isinstance(name, Invalid):
                return name
            room = name
        return Leave(room) if verb == "leave" else Members(room)
    if verb == "history":
        if not rest:
            return History(20)
        if not rest.isdigit() or not 1 <= int(rest) <= HISTORY_PAGE_MAX:
            return Invalid(f"usage: /history [N], N from 1 to {HISTORY_PAGE_MAX}")
        return History(int(rest))
    if verb in ("dm", "msg"):
        to, _, text = rest.partition(" ")
        if not to or not text.strip():
            return Invalid(f"usage: /{verb} USER TEXT")
        return Direct(to.lstrip("@"), text)
    return Invalid(f"unknown command /{verb}; /help lists them")

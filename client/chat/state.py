"""The chat CLI's memory: rooms, what was shown, history cursors, catch-up after reconnects.

`ChatState` is a pure reducer: a service frame or a typed command goes in, and the lines
to print and frames to send come out (`Effects`). No sockets, no clock: unit-testable.

Catch-up: after a reconnect every room is joined again; its `joined` frame carries the
most recent messages. When even the oldest of those is newer than the last message shown,
messages were missed in between, so the room asks `history` for older pages until it
reaches what was shown, then prints everything missed in order (live messages that arrive
meanwhile wait in the same buffer, so nothing prints twice or out of order).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from client import protocol
from client.chat import commands as c
from client.chat.render import direct_line, message_line, render, safe

# The service sends up to this many recent messages in `joined` (protocol).
JOINED_HISTORY = protocol.JOIN_HISTORY
CATCHUP_PAGE = protocol.HISTORY_MAX_LIMIT


@dataclass
class Effects:
    lines: list[str] = field(default_factory=list)
    frames: list[dict[str, Any]] = field(default_factory=list)
    quit: bool = False


@dataclass
class Room:
    name: str
    newest: str | None = None  # id of the newest message shown
    oldest: str | None = None  # id of the oldest message shown: the next `before`
    start_reached: bool = False  # a history page said there is nothing older
    seen: set[str] = field(default_factory=set)
    catching_up: bool = False
    missed: dict[str, dict[str, Any]] = field(default_factory=dict)
    # What each outstanding `history` request was for: "catchup" or "page".
    pending: deque[str] = field(default_factory=deque)


class ChatState:
    def __init__(self, me: str | None = None, now_ms: float | None = None) -> None:
        self.me = me
        self.current: str | None = None
        # The room to make current when its `joined` comes: the first one asked for at
        # start, then the last /join (joins are answered in any order).
        self.wanted: str | None = None
        self.rooms: dict[str, Room] = {}
        self.now_ms = now_ms  # fixed clock for tests; None = real time
        self.seen_direct: set[str] = set()

    # -- typed commands -------------------------------------------------------------

    def command(self, cmd: c.Command | c.Invalid) -> Effects:
        fx = Effects()
        match cmd:
            case c.Invalid(reason):
                fx.lines.append(f"! {reason}")
            case c.Say(text):
                if self.current is None:
                    fx.lines.append("! join a room first: /join ROOM")
                elif protocol.is_feed(self.current):
                    fx.lines.append(f"! #{self.current} is a read-only feed")
                else:
                    fx.frames.append(protocol.send(self.current, text=text))
            case c.Join(room) if room in self.rooms:
                self.current = room
                fx.lines.append(f"* now talking in #{room}")
            case c.Join(room):
                self.wanted = room
                fx.frames.append(protocol.join(room))
            case c.Leave(room):
                target = room or self.current
                if target is None:
                    fx.lines.append("! you are in no room")
                else:
                    fx.frames.append(protocol.leave(target))
            case c.Switch(room):
                if room in self.rooms:
                    self.current = room
                    fx.lines.append(f"* now talking in #{room}")
                else:
                    fx.lines.append(f"! you are not in #{room}; /join {room}")
            case c.Rooms():
                names = [("*" if r == self.current else "") + "#" + r for r in self.rooms]
                fx.lines.append("* rooms: " + (", ".join(names) or "none"))
            case c.Members(room):
                target = room or self.current
                if target is None:
                    fx.lines.append("! you are in no room")
                else:
                    fx.frames.append(protocol.members(target))
            case c.History(limit):
                fx = self._older_page(limit)
            case c.Direct(to, text):
                fx.frames.append(protocol.direct(to, text=text))
            case c.WhoAmI():
                fx.frames.append(protocol.whoami())
            case c.Ping():
                fx.frames.append(protocol.ping())
            case c.Help():
                fx.lines.extend(c.HELP.splitlines())
            case c.Quit():
                fx.quit = True
        return fx

    def _older_page(self, limit: int) -> Effects:
        fx = Effects()
        room = self.rooms.get(self.current) if self.current else None
        if room is None:
            fx.lines.append("! join a room first: /join ROOM")
        elif room.start_reached:
            fx.lines.append(f"* no older messages in #{room.name}")
        else:
            room.pending.append("page")
            fx.frames.append(protocol.history(room.name, before=room.oldest, limit=limit))
        return fx

    # -- the connection -------------------------------------------------------------

    def rejoin(self) -> list[dict[str, Any]]:
        """Frames to send on a new connection: join every room again."""
        return [protocol.join(name) for name in self.rooms]

    # -- service frames -------------------------------------------------------------

    def frame(self, frame: dict[str, Any]) -> Effects:
        kind = frame.get("type")
        if kind == "message":
            return self._message(frame)
        if kind == "direct":
            mid = frame.get("id")
            if isinstance(mid, str):
                if mid in self.seen_direct:
                    return Effects()
                self.seen_direct.add(mid)
            return Effects(lines=[direct_line(frame, self.me, self.now_ms)])
        if kind == "joined":
            return self._joined(frame)
        if kind == "left":
            return self._left(frame)
        if kind == "history":
            return self._history(frame)
        return Effects(lines=render(frame, self.me, self.now_ms))

    def _show(self, room: Room, messages: list[dict[str, Any]]) -> list[str]:
        """Lines for the messages not shown yet, in id order; remembers them as shown."""
        lines = []
        for m in sorted(messages, key=lambda m: str(m.get("id", ""))):
            mid = m.get("id")
            if not isinstance(mid, str) or mid in room.seen:
                continue
            room.seen.add(mid)
            if room.newest is None or mid > room.newest:
                room.newest = mid
            if room.oldest is None or mid < room.oldest:
                room.oldest = mid
            lines.append(message_line(m, self.now_ms))
        return lines

    def _message(self, m: dict[str, Any]) -> Effects:
        room = self.rooms.get(str(m.get("room")))
        if room is None:
            return Effects(lines=[message_line(m, self.now_ms)])
        if room.catching_up:
            if isinstance(m.get("id"), str):
                room.missed[m["id"]] = m
            return Effects()
        return Effects(lines=self._show(room, [m]))

    def _joined(self, f: dict[str, Any]) -> Effects:
        name = str(f.get("room"))
        recent: list[dict[str, Any]] = [m for m in f.get("history") or [] if isinstance(m, dict)]
        room = self.rooms.get(name)
        if room is None:  # a room joined at start or by command
            room = self.rooms[name] = Room(name)
            if self.current is None or name == self.wanted:
                self.current = name
            lines = render(f, self.me, self.now_ms) + self._show(room, recent)
            if len(recent) < JOINED_HISTORY:
                room.start_reached = True
            return Effects(lines=lines)
        # Joined again after a reconnect: catch up on what was missed meanwhile.
        fx = Effects(lines=[f"* back in #{safe(name)}"])
        if self.current is None:
            self.current = name
        newer = [m for m in recent if room.newest is None or str(m.get("id", "")) > room.newest]
        oldest = str(recent[0].get("id", "")) if recent else None
        gap = (
            room.newest is not None
            and len(recent) >= JOINED_HISTORY
            and oldest is not None
            and oldest > room.newest
        )
        if gap:
            room.catching_up = True
            room.missed.update({str(m["id"]): m for m in newer if "id" in m})
            room.pending.append("catchup")
            fx.frames.append(protocol.history(name, before=oldest, limit=CATCHUP_PAGE))
        else:
            fx.lines.extend(self._caught_up(room, newer))
        return fx

    def _caught_up(self, room: Room, missed: list[dict[str, Any]]) -> list[str]:
        lines = self._show(room, missed)
        if lines:
            lines.insert(0, f"* {len(lines)} new in #{room.name} while you were away:")
        return lines

    def _history(self, f: dict[str, Any]) -> Effects:
        room = self.rooms.get(str(f.get("room")))
        page: list[dict[str, Any]] = [m for m in f.get("messages") or [] if isinstance(m, dict)]
        if room is None:
            return Effects(lines=[message_line(m, self.now_ms) for m in page])
        purpose = room.pending.popleft() if room.pending else "page"
        next_before = f.get("nextBefore")
        if purpose == "catchup":
            newest = room.newest or ""
            for m in page:
                if str(m.get("id", "")) > newest:
                    room.missed[str(m["id"])] = m
            reached = not page or str(page[0].get("id", "")) <= newest
            if not reached and isinstance(next_before, str):
                room.pending.append("catchup")
                return Effects(frames=[protocol.history(room.name, next_before, CATCHUP_PAGE)])
            room.catching_up = False
            missed, room.missed = list(room.missed.values()), {}
            return Effects(lines=self._caught_up(room, missed))
        # An older page the user asked for.
        lines = [f"--- older messages in #{room.name} ---"]
        shown = self._show(room, page)
        if isinstance(next_before, str):
            room.oldest = min(room.oldest or next_before, next_before)
        else:
            room.start_reached = True
        lines += shown
        lines.append(
            f"--- start of #{room.name} ---" if room.start_reached else "--- /history for more ---"
        )
        return Effects(lines=lines)

    def _left(self, f: dict[str, Any]) -> Effects:
        name = str(f.get("room"))
        self.rooms.pop(name, None)
        if self.current == name:
            self.current = next(iter(self.rooms), None)
        lines = render(f, self.me, self.now_ms)
        if self.current:
            lines.append(f"* now talking in #{self.current}")
        return Effects(lines=lines)

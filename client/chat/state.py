"""The chat CLI's memory: rooms, what was shown, history cursors, catch-up, unacked sends.

`ChatState` is a pure reducer: a service frame, a typed command or a timer goes in; the
lines to print, frames to send and timers to arm come out (`Effects`). No sockets, no
clock: unit-testable.

Catch-up: every room remembers the newest message id it has seen (from `joined` history
too). After a reconnect each room is joined again; unless the `joined` history already
reaches back past that id, the room pages forward with `history` `after` a cursor a few
seconds before it (an id minted at the same moment as one seen may sort just before it),
following `nextAfter` until it is null, and then prints everything it had not shown, in
id order, once. Live messages that arrive meanwhile wait in the same buffer. A room in
which nothing was seen yet pages from its first message.

Sends carry a `clientMsgId` and stay "unacked" until the service echoes them: sends
refused by the rate limit go out again after `retryAfterMs`, and sends that a dropped
connection may have swallowed go out again after the reconnect. The service stores a
repeated `clientMsgId` once, so nothing arrives twice.

`history` answers do not say which request they answer, so one request is in flight at
a time (per connection); the others wait in `history_queue`.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from client import protocol
from client.chat import commands as c
from client.chat.render import direct_line, message_line, render, safe

CATCHUP_PAGE = protocol.HISTORY_MAX_LIMIT
MEMBERS_PAGE = 100  # names a /members prints; the total comes from memberCount

Timer = Literal["resend", "history"]


@dataclass
class Effects:
    lines: list[str] = field(default_factory=list)
    frames: list[dict[str, Any]] = field(default_factory=list)
    # (seconds, timer): call ChatState.timer(timer) that much later.
    timers: list[tuple[float, Timer]] = field(default_factory=list)
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
    member_count: int | None = None


@dataclass
class HistoryRequest:
    room: str
    purpose: Literal["catchup", "page"]
    frame: dict[str, Any]


@dataclass
class Unacked:
    frame: dict[str, Any]
    attempt: int  # the send counter when it last went out


def _messages(value: object) -> list[dict[str, Any]]:
    """The well-formed messages of a `joined` history or a `history` page."""
    items = value if isinstance(value, list) else []
    return [m for m in items if isinstance(m, dict) and isinstance(m.get("id"), str)]


def new_client_msg_id() -> str:
    return uuid.uuid4().hex


class ChatState:
    def __init__(
        self,
        me: str | None = None,
        now_ms: float | None = None,
        client_msg_id: Callable[[], str] = new_client_msg_id,
    ) -> None:
        self.me = me
        self.current: str | None = None
        # The room to make current when its `joined` comes: the first one asked for at
        # start, then the last /join (joins are answered in any order).
        self.wanted: str | None = None
        self.rooms: dict[str, Room] = {}
        self.known_rooms: set[str] = set()  # every room joined this session (completion)
        self.now_ms = now_ms  # fixed clock for tests; None = real time
        self.seen_direct: set[str] = set()
        self.client_msg_id = client_msg_id
        self.unacked: dict[str, Unacked] = {}
        self.attempts = 0  # sends so far: orders them against rate-limit refusals
        self.refused_upto = 0  # sends up to this count may have been refused
        self.resend_armed = False
        self.history_inflight: HistoryRequest | None = None
        self.history_queue: deque[HistoryRequest] = deque()

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
                    fx.frames.append(self._outgoing(protocol.send(self.current, text=text)))
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
                elif target not in self.rooms:
                    fx.lines.append(f"! you are not in #{target}")
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
                elif target not in self.rooms:
                    fx.lines.append(f"! you are not in #{target}; /join {target}")
                else:
                    fx.frames.append(protocol.members(target, limit=MEMBERS_PAGE))
            case c.History(limit):
                fx = self._older_page(limit)
            case c.Direct(to, text):
                fx.frames.append(self._outgoing(protocol.direct(to, text=text)))
            case c.WhoAmI():
                fx.frames.append(protocol.whoami())
            case c.Ping():
                fx.frames.append(protocol.ping())
            case c.Help():
                fx.lines.extend(c.HELP.splitlines())
            case c.Quit():
                fx.quit = True
        return fx

    def _outgoing(self, frame: dict[str, Any]) -> dict[str, Any]:
        """`frame` with a fresh clientMsgId, remembered until the service echoes it."""
        cmid = self.client_msg_id()
        frame["clientMsgId"] = cmid
        self.attempts += 1
        self.unacked[cmid] = Unacked(frame, self.attempts)
        return frame

    def _older_page(self, limit: int) -> Effects:
        fx = Effects()
        room = self.rooms.get(self.current) if self.current else None
        if room is None:
            fx.lines.append("! join a room first: /join ROOM")
        elif room.catching_up:
            fx.lines.append(f"* still catching up on #{room.name}; try again in a moment")
        elif room.start_reached:
            fx.lines.append(f"* no older messages in #{room.name}")
        else:
            frame = protocol.history(room.name, before=room.oldest, limit=limit)
            fx.frames += self._ask(HistoryRequest(room.name, "page", frame))
        return fx

    # -- history requests, one at a time --------------------------------------------

    def _ask(self, req: HistoryRequest, first: bool = False) -> list[dict[str, Any]]:
        if self.history_inflight is None:
            self.history_inflight = req
            return [req.frame]
        if first:
            self.history_queue.appendleft(req)
        else:
            self.history_queue.append(req)
        return []

    def _next_history(self) -> list[dict[str, Any]]:
        self.history_inflight = None
        while self.history_queue:
            req = self.history_queue.popleft()
            if req.room in self.rooms:  # not left meanwhile
                self.history_inflight = req
                return [req.frame]
        return []

    # -- the connection -------------------------------------------------------------

    def rejoin(self) -> list[dict[str, Any]]:
        """Frames to send on a new connection: join every room again. History requests in
        flight died with the old connection: catch-ups are planned again from the
        `joined` answers, asked-for older pages are asked again."""
        pages = [r for r in self.history_queue if r.purpose == "page"]
        if self.history_inflight is not None and self.history_inflight.purpose == "page":
            pages.insert(0, self.history_inflight)
        self.history_inflight = None
        self.history_queue = deque(pages)
        return [protocol.join(name) for name in self.rooms]

    def resend(self) -> list[dict[str, Any]]:
        """Every send not acked yet (once the rooms are joined again): the old connection
        may have swallowed it; the service drops the repeat if it had arrived."""
        return self._again(lambda u: True)

    def _again(self, which: Callable[[Unacked], bool]) -> list[dict[str, Any]]:
        frames = []
        for u in self.unacked.values():
            if which(u):
                self.attempts += 1
                u.attempt = self.attempts
                frames.append(u.frame)
        return frames

    def timer(self, name: Timer) -> Effects:
        if name == "resend":
            self.resend_armed = False
            upto = self.refused_upto
            return Effects(frames=self._again(lambda u: u.attempt <= upto))
        req = self.history_inflight
        return Effects(frames=[req.frame] if req is not None else [])

    # -- service frames -------------------------------------------------------------

    def frame(self, frame: dict[str, Any]) -> Effects:
        kind = frame.get("type")
        if kind == "message":
            return self._message(frame)
        if kind == "direct":
            self._acked(frame)
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
        if kind == "presence":
            self._count_presence(frame)
        if kind == "members":
            return self._members(frame)
        if kind == "error":
            return self._error(frame)
        return Effects(lines=render(frame, self.me, self.now_ms))

    def _acked(self, frame: dict[str, Any]) -> None:
        sender = frame.get("from")
        cmid = frame.get("clientMsgId")
        if isinstance(cmid, str) and isinstance(sender, dict) and sender.get("id") == self.me:
            self.unacked.pop(cmid, None)

    def _error(self, f: dict[str, Any]) -> Effects:
        action = f.get("action")
        retry = f.get("retryAfterMs")
        delay = max(0.0, retry / 1000) if isinstance(retry, int | float) else 1.0
        if f.get("code") == "rate_limited" and action in ("send", "direct"):
            # The error does not say which send it refused: any sent so far may have been.
            self.refused_upto = self.attempts
            if self.resend_armed:
                return Effects()
            self.resend_armed = True
            return Effects(
                lines=[f"* rate limited: sending again in {delay:.1f} s"],
                timers=[(delay, "resend")],
            )
        if action == "history" and self.history_inflight is not None:
            if f.get("code") == "rate_limited":
                return Effects(timers=[(delay, "history")])
            req = self.history_inflight
            fx = Effects(lines=render(f, self.me, self.now_ms))
            room = self.rooms.get(req.room)
            if req.purpose == "catchup" and room is not None:
                fx.lines += self._finish_catchup(room)
            fx.frames += self._next_history()
            return fx
        return Effects(lines=render(f, self.me, self.now_ms))

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
        self._acked(m)
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
        recent = _messages(f.get("history"))
        count = f.get("memberCount")
        room = self.rooms.get(name)
        if room is None:  # a room joined at start or by command
            room = self.rooms[name] = Room(name)
            self.known_rooms.add(name)
            room.member_count = count if isinstance(count, int) else None
            if self.current is None or name == self.wanted:
                self.current = name
            return Effects(lines=render(f, self.me, self.now_ms) + self._show(room, recent))
        # Joined again after a reconnect: catch up on what was missed meanwhile.
        room.member_count = count if isinstance(count, int) else room.member_count
        room.start_reached = False  # learnt on the old connection; ask again
        fx = Effects(lines=[f"* back in #{safe(name)}"])
        if self.current is None:
            self.current = name
        cursor = protocol.catch_up_cursor(room.newest)
        room.missed.update({m["id"]: m for m in recent})
        whole_room = len(recent) < protocol.JOIN_HISTORY
        if not whole_room and recent[0]["id"] > cursor:
            # `joined` does not reach back to the cursor: page forward from it.
            room.catching_up = True
            frame = protocol.history(name, after=cursor, limit=CATCHUP_PAGE)
            fx.frames += self._ask(HistoryRequest(name, "catchup", frame))
        else:  # also ends a catch-up the old connection left half done
            fx.lines += self._finish_catchup(room)
        return fx

    def _finish_catchup(self, room: Room) -> list[str]:
        room.catching_up = False
        missed, room.missed = list(room.missed.values()), {}
        lines = self._show(room, missed)
        if lines:
            lines.insert(0, f"* {len(lines)} new in #{room.name} while you were away:")
        return lines

    def _history(self, f: dict[str, Any]) -> Effects:
        name = str(f.get("room"))
        room = self.rooms.get(name)
        page = _messages(f.get("messages"))
        req = self.history_inflight
        if req is None or req.room != name:  # not ours (or from before a reconnect)
            return Effects()
        fx = Effects()
        if room is None:
            fx.frames += self._next_history()
            return fx
        if req.purpose == "catchup":
            room.missed.update({m["id"]: m for m in page})
            next_after = f.get("nextAfter")
            self.history_inflight = None
            if isinstance(next_after, str) and page:
                more = protocol.history(name, after=next_after, limit=CATCHUP_PAGE)
                fx.frames += self._ask(HistoryRequest(name, "catchup", more), first=True)
                return fx
            fx.lines += self._finish_catchup(room)
            fx.frames += self._next_history()
            return fx
        # An older page the user asked for.
        next_before = f.get("nextBefore")
        if next_before is None:
            room.start_reached = True
        fx.lines.append(f"--- older messages in #{room.name} ---")
        fx.lines += self._show(room, page)
        fx.lines.append(
            f"--- start of #{room.name} ---" if room.start_reached else "--- /history for more ---"
        )
        fx.frames += self._next_history()
        return fx

    def _count_presence(self, f: dict[str, Any]) -> None:
        room = self.rooms.get(str(f.get("room")))
        if room is not None and room.member_count is not None:
            room.member_count += 1 if f.get("event") == "join" else -1
            room.member_count = max(room.member_count, 0)

    def _members(self, f: dict[str, Any]) -> Effects:
        room = self.rooms.get(str(f.get("room")))
        people = [u for u in f.get("members") or [] if isinstance(u, dict)]
        more = isinstance(f.get("nextAfter"), str)
        total = room.member_count if more and room is not None else len(people)
        if room is not None and not more:
            room.member_count = total
        return Effects(lines=render(f, self.me, self.now_ms, total=total))

    def _left(self, f: dict[str, Any]) -> Effects:
        name = str(f.get("room"))
        self.rooms.pop(name, None)
        if self.current == name:
            self.current = next(iter(self.rooms), None)
        lines = render(f, self.me, self.now_ms)
        if self.current:
            lines.append(f"* now talking in #{self.current}")
        return Effects(lines=lines)

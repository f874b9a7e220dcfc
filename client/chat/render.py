"""Service frames as the lines a person reads in the terminal.

Pure functions (no I/O) so the CLI's output is unit-tested frame by frame. Text from
other users is never trusted with the terminal: control characters (escape sequences
that could move the cursor or retitle the window) are shown escaped.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

from client.protocol import is_feed

User = dict[str, Any]


def safe(text: object) -> str:
    """`text` with every control character shown as an escape instead of acted on."""
    s = str(text)
    if s.isprintable():
        return s
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in s)


def clock(ts_ms: float | None, now_ms: float | None = None) -> str:
    """Local time of `ts_ms`: `14:03:07` today, `2026-11-20 14:03` on another day."""
    now = datetime.fromtimestamp((now_ms if now_ms is not None else time.time() * 1000) / 1000)
    if ts_ms is None:
        return now.strftime("%H:%M:%S")
    at = datetime.fromtimestamp(ts_ms / 1000)
    if at.date() == now.date():
        return at.strftime("%H:%M:%S")
    return at.strftime("%Y-%m-%d %H:%M")


def who(user: User | None) -> str:
    """`Alice` for a user whose name is their id, else `Alice (alice)`: DMs need the id."""
    if not isinstance(user, dict):
        return "?"
    uid, name = safe(user.get("id", "?")), safe(user.get("name") or user.get("id", "?"))
    return name if name == uid else f"{name} ({uid})"


def body(frame: dict[str, Any]) -> str:
    parts = []
    if "text" in frame:
        parts.append(safe(frame["text"]))
    if "data" in frame:
        parts.append(safe(json.dumps(frame["data"], separators=(",", ":"), ensure_ascii=False)))
    return " ".join(parts)


def message_line(m: dict[str, Any], now_ms: float | None = None) -> str:
    room = safe(m.get("room", "?"))
    return f"[{clock(m.get('ts'), now_ms)}] #{room} <{who(m.get('from'))}> {body(m)}"


def direct_line(m: dict[str, Any], me: str | None, now_ms: float | None = None) -> str:
    sender = m.get("from") or {}
    if me is not None and sender.get("id") == me:
        route = f"you -> {safe(m.get('to', '?'))}"
    else:
        route = f"{who(sender)} -> you"
    return f"[{clock(m.get('ts'), now_ms)}] (dm) {route}: {body(m)}"


def member_list(users: list[User], total: int | None = None) -> str:
    """`Alice, Bob`, and `, and 98 more` when `total` says the list is a first page."""
    names = ", ".join(who(u) for u in users) or "nobody"
    if total is not None and total > len(users):
        names += f", and {total - len(users)} more"
    return names


def error_line(frame: dict[str, Any]) -> str:
    line = f"! {safe(frame.get('code', 'error'))}: {safe(frame.get('message', ''))}"
    if frame.get("action"):
        line += f" ({safe(frame['action'])})"
    retry = frame.get("retryAfterMs")
    if isinstance(retry, int | float):
        line += f", retry in {retry / 1000:.1f} s"
    return line


def render(
    frame: dict[str, Any],
    me: str | None = None,
    now_ms: float | None = None,
    total: int | None = None,
) -> list[str]:
    """The lines to print for one service frame (history pages are handled by the caller).
    `total`: how many members a `members` page is the start of, when known."""
    kind = frame.get("type")
    if kind == "message":
        return [message_line(frame, now_ms)]
    if kind == "direct":
        return [direct_line(frame, me, now_ms)]
    if kind == "presence":
        verb = "joined" if frame.get("event") == "join" else "left"
        return [
            f"[{clock(None, now_ms)}] * {who(frame.get('user'))} {verb} #{safe(frame.get('room'))}"
        ]
    if kind == "joined":
        people = frame.get("members") or []
        count = frame.get("memberCount")
        n = count if isinstance(count, int) else len(people)
        room = safe(frame.get("room"))
        if is_feed(str(frame.get("room", ""))):  # viewers do not see each other
            return [f"* you joined #{room}; {n} watching"]
        return [f"* you joined #{room}; {n} here: {member_list(people, n)}"]
    if kind == "left":
        return [f"* you left #{safe(frame.get('room'))}"]
    if kind == "members":
        people = frame.get("members") or []
        n = total if total is not None else len(people)
        return [f"* #{safe(frame.get('room'))}: {n} here: {member_list(people, n)}"]
    if kind == "whoami":
        rooms = ", ".join("#" + safe(r) for r in frame.get("rooms") or []) or "no rooms"
        conn = safe(frame.get("connectionId", "?"))
        return [f"* you are {who(frame.get('user'))}, connection {conn}, in {rooms}"]
    if kind == "pong":
        return ["* pong"]
    if kind == "error":
        return [error_line(frame)]
    if kind is None and "message" in frame:
        # The gateway's own answers ("Forbidden", "Internal server error") carry no type.
        return [f"! service: {safe(frame['message'])}"]
    return [f"? {safe(json.dumps(frame, ensure_ascii=False))}"]

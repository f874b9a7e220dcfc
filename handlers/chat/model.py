"""The chat's values and the frames the service sends (protocol.md, "Service → client")."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class User:
    id: str
    name: str

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name}


@dataclass(frozen=True)
class Body:
    """What a message carries: text and/or data (data kept as its JSON serialization)."""

    text: str | None = None
    data_json: str | None = None  # serialized once at validation; None = no `data` field

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.text is not None:
            out["text"] = self.text
        if self.data_json is not None:
            out["data"] = json.loads(self.data_json)
        return out


@dataclass(frozen=True)
class Message:
    id: str
    sender: User
    body: Body
    ts: int  # ms since epoch
    room: str | None = None  # a room message
    to: str | None = None  # a direct message (user id)
    client_msg_id: str | None = None

    def frame(self) -> dict[str, Any]:
        """The `message` frame (room) or the `direct` frame."""
        out: dict[str, Any]
        if self.room is not None:
            out = {"type": "message", "room": self.room, "id": self.id}
        else:
            out = {"type": "direct", "id": self.id, "to": self.to}
        out["from"] = self.sender.to_json()
        out.update(self.body.to_json())
        out["ts"] = self.ts
        if self.client_msg_id is not None:
            out["clientMsgId"] = self.client_msg_id
        return out


@dataclass(frozen=True)
class Member:
    """One connection's membership of a room."""

    connection_id: str
    user: User


@dataclass(frozen=True)
class Connection:
    """A connection's record, as read back from storage."""

    connection_id: str
    user: User
    rooms: frozenset[str] = field(default_factory=frozenset)
    # The partition of each room joined outside the room's base partition (index > 0).
    parts: Mapping[str, int] = field(default_factory=dict)

    def partition(self, room: str) -> int:
        return self.parts.get(room, 0)


def encode(frame: dict[str, Any]) -> str:
    """A frame as the text sent on the wire (compact, UTF-8 kept as is)."""
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


def error_frame(
    code: str, message: str, action: str | None = None, retry_after_ms: int | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if action is not None:
        out["action"] = action
    if retry_after_ms is not None:
        out["retryAfterMs"] = retry_after_ms
    return out

"""`python -m wschat_protocol.web`: write the protocol's facts as an ES module for the web
page (client/web/protocol.js), so the page needs no build step and no copy of its own.

tests/unit/test_protocol_facts.py fails when the file is not what this writes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import wschat_protocol as p

TARGET = Path(__file__).resolve().parents[1] / "client" / "web" / "protocol.js"

# The names the page gets, in this order.
EXPORTED = (
    "ACTIONS",
    "FRAME_TYPES",
    "ERROR_CODES",
    "FEED_PREFIX",
    "MAX_ROOMS_PER_CONNECTION",
    "MAX_TEXT_CHARS",
    "MAX_DATA_BYTES",
    "MAX_CLIENT_MSG_ID_CHARS",
    "MAX_USER_ID_CHARS",
    "DEDUP_WINDOW_S",
    "HISTORY_DEFAULT_LIMIT",
    "HISTORY_MAX_LIMIT",
    "JOIN_HISTORY",
    "JOINED_MAX_MEMBERS",
    "MEMBERS_DEFAULT_LIMIT",
    "MEMBERS_MAX_LIMIT",
    "MAX_MESSAGE_BYTES",
    "IDLE_TIMEOUT_S",
    "ID_ALPHABET",
    "ID_LENGTH",
    "ID_TIME_CHARS",
    "FIRST_ID",
    "CATCH_UP_MARGIN_MS",
    "ROOM_RULE",
)


def module_text() -> str:
    lines = [
        "// Generated from wschat_protocol (python -m wschat_protocol.web): do not edit.",
        "// The chat protocol's facts, one source for the service, the clients and the tests.",
        "",
    ]
    for name in EXPORTED:
        value = getattr(p, name)
        if isinstance(value, tuple):
            value = list(value)
        lines.append(
            f"export const {name} = Object.freeze({json.dumps(value)});"
            if isinstance(value, list)
            else f"export const {name} = {json.dumps(value)};"
        )
    # A JS RegExp of the same pattern, anchored: JS has no fullmatch.
    lines += [
        f"export const ROOM_RE = /^{p.ROOM_PATTERN}$/;",
        "",
        "export function validRoom(name) {",
        '  return typeof name === "string" && ROOM_RE.test(name);',
        "}",
        "",
        "export function isFeed(room) {",
        "  return room.startsWith(FEED_PREFIX);",
        "}",
        "",
        "// The lowest id of millisecond `ms`: `after` it are the messages from `ms` on.",
        "export function idAt(ms) {",
        "  let value = Math.max(Math.floor(ms), 0);",
        '  let out = "";',
        "  for (let i = 0; i < ID_TIME_CHARS; i++) {",
        "    out = ID_ALPHABET[value % 32] + out;",
        "    value = Math.floor(value / 32);",
        "  }",
        "  return out + ID_ALPHABET[0].repeat(ID_LENGTH - ID_TIME_CHARS);",
        "}",
        "",
        "export function isMessageId(value) {",
        "  return (",
        '    typeof value === "string" &&',
        "    value.length === ID_LENGTH &&",
        "    [...value].every((c) => ID_ALPHABET.includes(c)) &&",
        '    "01234567".includes(value[0])',
        "  );",
        "}",
        "",
        "export function idTimestampMs(id) {",
        "  let value = 0;",
        "  for (const c of id.slice(0, ID_TIME_CHARS)) {",
        "    value = value * 32 + ID_ALPHABET.indexOf(c);",
        "  }",
        "  return value;",
        "}",
        "",
        "// Where a reconnecting client starts paging a room forward (`after`): a few seconds",
        "// before the last id it saw there, or the room's first message when it saw none;",
        "// drop duplicates by id.",
        "export function catchUpCursor(lastSeenId, marginMs = CATCH_UP_MARGIN_MS) {",
        "  if (!isMessageId(lastSeenId)) return FIRST_ID;",
        "  return idAt(idTimestampMs(lastSeenId) - marginMs);",
        "}",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    if sys.argv[1:] == ["--check"]:
        sys.exit(0 if TARGET.read_text() == module_text() else 1)
    TARGET.write_text(module_text())
    print(f"wrote {TARGET}")


if __name__ == "__main__":
    main()

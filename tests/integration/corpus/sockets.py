"""What the corpus tests of the Lambda side share: a client over real sockets, a log
that can be searched, and the services' directory."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import scaled

CORPUS = Path(__file__).resolve().parents[2] / "corpus"


async def open_ws(url: str) -> ClientConnection:
    return await connect(url, open_timeout=scaled(30), ping_interval=None)


async def ask(ws: ClientConnection, message: Any) -> Any:
    """Send `message` (JSON unless a str) and return the next frame, JSON-decoded if it is."""
    await ws.send(message if isinstance(message, str) else json.dumps(message))
    frame = await asyncio.wait_for(ws.recv(), scaled(30))
    try:
        return json.loads(frame)
    except ValueError:
        return frame


class Logs:
    """Every line the functions wrote."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def __call__(self, function: str, line: str) -> None:
        self.lines.append((function, line))

    def of(self, function: str) -> list[str]:
        return [line for fn, line in self.lines if fn == function]

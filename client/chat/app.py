"""The chat CLI's event loop: typed lines in, frames out, frames in, lines out; reconnects.

Two tasks share one `ChatState`: one takes typed lines from an inbox (fed by the
prompt, `client.chat.prompt`, or by a thread reading a pipe), the other holds the
connection, reconnecting with backoff and joining every room again (the state then
catches up on missed messages and sends again what was not acked). Other frames typed
while disconnected wait in an outbox and go out once the rooms are joined again.
A refused token or an untrusted certificate ends the session: retrying cannot help.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import sys
import threading
from collections.abc import Callable
from typing import Any, TextIO

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from client import protocol
from client.backoff import Backoff
from client.chat.commands import parse
from client.chat.state import ChatState, Effects, Timer
from client.tls import certificate_problem, connect_kwargs


def read_lines(
    stream: TextIO, loop: asyncio.AbstractEventLoop, inbox: asyncio.Queue[str | None]
) -> None:
    """Feed lines of `stream` to `inbox` from a daemon thread; None at end of input."""

    def pump() -> None:
        for line in iter(stream.readline, ""):
            loop.call_soon_threadsafe(inbox.put_nowait, line)
        loop.call_soon_threadsafe(inbox.put_nowait, None)

    threading.Thread(target=pump, name="stdin", daemon=True).start()


class ChatApp:
    def __init__(
        self,
        url: str,
        token: Callable[[], str],
        state: ChatState,
        *,
        rooms: list[str],
        out: Callable[[str], None],
        backoff: Backoff | None = None,
        keepalive_s: float = 300.0,
        open_timeout_s: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.url, self.token, self.state, self.out = url, token, state, out
        self.first_rooms = rooms
        state.wanted = rooms[0] if rooms else None
        self.backoff = backoff or Backoff()
        self.keepalive_s = keepalive_s
        self.open_timeout_s = open_timeout_s
        self.ws: ClientConnection | None = None
        self.rejoining: set[str] = set()
        self.outbox: list[dict[str, Any]] = []
        self.quiet_pongs = 0
        self.quitting = False
        self.ssl_context = ssl_context
        self.on_change = on_change  # the prompt redraws (room, online) when told
        self.resent = False  # unacked sends went out again on this connection
        self.timers: set[asyncio.TimerHandle] = set()
        self.tasks: set[asyncio.Task[None]] = set()

    async def run(self, inbox: asyncio.Queue[str | None]) -> int:
        typing = asyncio.create_task(self._typing(inbox))
        linked = asyncio.create_task(self._connection())
        done, _ = await asyncio.wait({typing, linked}, return_when=asyncio.FIRST_COMPLETED)
        if typing in done:  # /quit or end of input: a clean close (the service sees 1000)
            self.quitting = True
            if self.ws is not None:
                await self.ws.close()
        code = linked.result() if linked in done else 0
        for handle in self.timers:
            handle.cancel()
        for task in (typing, linked):
            task.cancel()
        await asyncio.gather(typing, linked, return_exceptions=True)
        return code

    # -- typing ---------------------------------------------------------------------

    async def _typing(self, inbox: asyncio.Queue[str | None]) -> None:
        while (line := await inbox.get()) is not None:
            cmd = parse(line)
            if cmd is None:
                continue
            fx = self.state.command(cmd)
            await self._apply(fx)
            if fx.quit:
                return

    async def _apply(self, fx: Effects) -> None:
        for line in fx.lines:
            self.out(line)
        for frame in fx.frames:
            await self._send(frame)
        for delay, name in fx.timers:
            self._arm(delay, name)
        self.on_change()

    def _arm(self, delay: float, name: Timer) -> None:
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self.timers.discard(handle)
            if self.ws is not None:  # else the reconnect sends everything again
                task = loop.create_task(self._apply(self.state.timer(name)))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)

        handle = loop.call_later(delay, fire)
        self.timers.add(handle)

    async def _send(self, frame: dict[str, Any]) -> None:
        if self.ws is None or self.rejoining:
            # Offline, or still joining rooms (a send could overtake its room's join).
            if self.ws is None and not self.outbox:
                self.out("* not connected: will send when back")
            if frame.get("action") not in ("send", "direct"):
                self.outbox.append(frame)  # sends wait as unacked in the state
            return
        try:
            await self.ws.send(protocol.encode(frame))
        except ConnectionClosed:
            self.outbox.append(frame)

    # -- the connection -------------------------------------------------------------

    async def _connection(self) -> int:
        first = True
        while True:
            ws = await self._connect()
            if ws is None:
                return 1
            self.backoff.reset()
            self.out("* connected" if first else "* reconnected")
            self.resent = False
            joins = [protocol.join(r) for r in self.first_rooms] if first else self.state.rejoin()
            first = False
            self.ws = ws
            self.rejoining = {j["room"] for j in joins}
            keepalive = asyncio.create_task(self._keepalive(ws))
            try:
                for j in joins:
                    await ws.send(protocol.encode(j))
                await self._flush_if_ready()
                async for raw in ws:
                    await self._received(raw)
                code = ws.close_code
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd else 1006
            finally:
                keepalive.cancel()
                self.ws = None
                self.on_change()
            if self.quitting:
                return 0
            delay = self.backoff.next()
            self.out(f"! disconnected (close code {code}); reconnecting in {delay:.1f} s")
            await asyncio.sleep(delay)

    async def _connect(self) -> ClientConnection | None:
        while True:
            try:
                return await connect(
                    protocol.with_token(self.url, self.token()),
                    compression=None,
                    open_timeout=self.open_timeout_s,
                    max_size=2**20,
                    **connect_kwargs(self.url, self.ssl_context),
                )
            except InvalidStatus as exc:
                status = exc.response.status_code
                if status in (401, 403):
                    self.out(f"! the service refused the token (HTTP {status}); giving up")
                    return None
                reason = f"HTTP {status}"
            except (OSError, TimeoutError, InvalidHandshake) as exc:
                if problem := certificate_problem(exc):
                    self.out(f"! {problem}; giving up")
                    return None
                reason = str(exc) or type(exc).__name__
            delay = self.backoff.next()
            self.out(f"! cannot connect ({reason}); retrying in {delay:.1f} s")
            await asyncio.sleep(delay)

    async def _received(self, raw: str | bytes) -> None:
        try:
            frame = json.loads(raw)
        except ValueError:
            self.out(f"? {raw!r}")
            return
        if not isinstance(frame, dict):
            self.out(f"? {raw!r}")
            return
        if frame.get("type") == "pong" and self.quiet_pongs:
            self.quiet_pongs -= 1
            return
        if frame.get("type") == "joined":
            self.rejoining.discard(str(frame.get("room")))
        elif frame.get("type") == "error" and frame.get("action") == "join":
            self.rejoining.clear()  # error frames do not name the room: stop waiting
        await self._apply(self.state.frame(frame))
        await self._flush_if_ready()

    async def _flush_if_ready(self) -> None:
        if self.rejoining or self.ws is None:
            return
        if not self.resent:
            # The rooms are joined: what the old connection may have swallowed goes again.
            self.resent = True
            for frame in self.state.resend():
                await self._send(frame)
        pending, self.outbox = self.outbox, []
        for frame in pending:
            await self._send(frame)

    async def _keepalive(self, ws: ClientConnection) -> None:
        # The service closes connections idle for 10 minutes; a `ping` action resets that.
        while True:
            await asyncio.sleep(self.keepalive_s)
            self.quiet_pongs += 1
            await ws.send(protocol.encode(protocol.ping()))


def printer(stream: TextIO | None = None) -> Callable[[str], None]:
    """Print lines to `stream`, by default whatever sys.stdout is at the time (the prompt
    replaces it, so lines appear above the line being typed)."""

    def out(line: str) -> None:
        target = stream or sys.stdout
        target.write(line + "\n")
        target.flush()

    return out

"""The gateway's listening sockets, with an accept loop that backs off when out of fds.

Why not `loop.create_server`: when `accept()` fails with EMFILE, asyncio's accept loop
(CPython's `BaseSelectorEventLoop._accept_connection`) logs the error with a traceback,
schedules a retry one second later, and then goes on looping: one readiness event logs
`backlog` tracebacks and schedules `backlog` retries. With the gateway's backlog of 4096
that was about 7 MB of log a second while the process was out of file descriptors.
Here the loop stops at the first such error: one warning line (at most one a minute,
however often it happens), the listening sockets paused for a backoff that doubles up to
a second, and accepting again silently once a descriptor is free. Connections that
arrive meanwhile wait in the kernel's backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

# Out of a resource accepting needs: back off instead of failing every connection.
_STARVED = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_ACCEPTS_PER_EVENT = 64
FIRST_BACKOFF_S = 0.05
MAX_BACKOFF_S = 1.0
WARN_EVERY_S = 60.0


class Listener:
    """Listening sockets on `host:port` handing each connection to a protocol."""

    def __init__(
        self,
        protocol_factory: Callable[[], asyncio.Protocol],
        *,
        open_connections: Callable[[], int] = lambda: 0,
    ) -> None:
        self._factory = protocol_factory
        self._open_connections = open_connections  # for the log line only
        self._loop: asyncio.AbstractEventLoop | None = None
        self.sockets: list[socket.socket] = []
        self._adopting: set[asyncio.Task[Any]] = set()
        self._resume: asyncio.TimerHandle | None = None
        self._backoff_s = 0.0
        self.starved = False  # accepting is paused for want of file descriptors
        self.episodes = 0  # how many times that happened
        self._warned_at: float | None = None
        self._unwarned = 0  # episodes since the last warning

    async def start(self, host: str, port: int, backlog: int) -> None:
        """Bind every address `host` resolves to (all on the same port, even for port 0)."""
        loop = self._loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        seen: set[tuple[int, Any]] = set()
        try:
            for family, kind, proto, _, address in infos:
                if (family, address) in seen:
                    continue
                seen.add((family, address))
                if self.sockets and port == 0:  # the port the first one got
                    address = (address[0], self.sockets[0].getsockname()[1], *address[2:])
                sock = socket.socket(family, kind, proto)
                self.sockets.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind(address)
                sock.listen(backlog)
                sock.setblocking(False)
        except OSError:
            self.close()
            raise
        self._watch()

    @property
    def port(self) -> int:
        return int(self.sockets[0].getsockname()[1])

    def close(self) -> None:
        """Stop accepting and close the listening sockets (accepted connections stay;
        ones still being set up are dropped)."""
        self._unwatch()
        for task in list(self._adopting):
            task.cancel()
        if self._resume is not None:
            self._resume.cancel()
            self._resume = None
        for sock in self.sockets:
            sock.close()
        self.sockets = []

    def _watch(self) -> None:
        assert self._loop is not None
        for sock in self.sockets:
            self._loop.add_reader(sock.fileno(), self._accept, sock)

    def _unwatch(self) -> None:
        if self._loop is None:
            return
        for sock in self.sockets:
            with contextlib.suppress(ValueError, OSError):  # closed meanwhile
                self._loop.remove_reader(sock.fileno())

    def _accept(self, sock: socket.socket) -> None:
        for _ in range(_ACCEPTS_PER_EVENT):
            try:
                conn, _ = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                if exc.errno in _STARVED:
                    self._starve(exc)
                    return
                log.warning("accepting a connection failed: %s", exc)
                return
            if self.starved:
                self.starved, self._backoff_s = False, 0.0
                log.debug("accepting connections again")
            conn.setblocking(False)
            self._adopt(conn)

    def _adopt(self, conn: socket.socket) -> None:
        assert self._loop is not None
        task = self._loop.create_task(self._connect(conn))
        self._adopting.add(task)
        task.add_done_callback(self._adopting.discard)

    async def _connect(self, conn: socket.socket) -> None:
        assert self._loop is not None
        try:
            await self._loop.connect_accepted_socket(self._factory, conn)
        except asyncio.CancelledError:
            conn.close()
            raise
        except Exception as exc:  # the client is gone already: nothing to serve
            log.debug("a connection could not be set up: %s", exc)
            conn.close()

    def _starve(self, exc: OSError) -> None:
        """Out of descriptors: pause, say so once, try again after a backoff."""
        assert self._loop is not None
        self._unwatch()
        if not self.starved:
            self.starved = True
            self.episodes += 1
            self._unwarned += 1
            now = self._loop.time()
            if self._warned_at is None or now - self._warned_at >= WARN_EVERY_S:
                again = (
                    f", {self._unwarned} times since the last warning" if self._warned_at else ""
                )
                self._warned_at, self._unwarned = now, 0
                log.warning(
                    "cannot accept connections: %s (%d open%s); new clients wait until "
                    "some close (raise `ulimit -n` or lower --max-connections)",
                    exc.strerror or exc,
                    self._open_connections(),
                    again,
                )
        self._backoff_s = min(max(self._backoff_s * 2, FIRST_BACKOFF_S), MAX_BACKOFF_S)
        self._resume = self._loop.call_later(self._backoff_s, self._resumed)

    def _resumed(self) -> None:
        self._resume = None
        if self.sockets:
            self._watch()

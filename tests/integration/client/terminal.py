"""Drive a command-line program through a pseudo-terminal, as a person at a keyboard would.

What the program prints goes through a terminal emulator (pyte), so tests read the
screen a person sees — after cursor moves, redraws and erasures — not the raw bytes.
The emulator answers the program's cursor-position queries as a real terminal does.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pty
import re
import signal
import struct
import subprocess
import termios
from collections.abc import Mapping, Sequence

import pyte

from tests.conftest import scaled

KEYS = {"up": "\x1b[A", "down": "\x1b[B", "right": "\x1b[C", "left": "\x1b[D", "tab": "\t"}


class _Screen(pyte.Screen):
    def __init__(self, columns: int, lines: int, master: int) -> None:
        super().__init__(columns, lines)
        self.master = master

    def write_process_input(self, data: str) -> None:  # answers to "where is the cursor?"
        with contextlib.suppress(OSError):
            os.write(self.master, data.encode())


class Terminal:
    """A program on a pty: `type()` lines or `keys()` into it, `expect()` what it shows.

    `transcript` is the screen above the cursor's line (what was printed: it does not
    change once there); `line` is the cursor's line (the prompt and what is typed)."""

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: str,
        columns: int = 160,
        rows: int = 400,
    ) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        self.proc = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env={"TERM": "xterm-256color", **env},
            cwd=cwd,
            start_new_session=True,
        )
        os.close(slave)
        self.master = master
        self.screen = _Screen(columns, rows, master)
        self.stream = pyte.Stream(self.screen)
        self.pos = 0  # where the next expect() starts looking in the transcript
        self.changed = asyncio.Event()
        asyncio.get_running_loop().add_reader(master, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: the program exited and the pty closed
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(self.master)
        self.stream.feed(data.decode(errors="replace"))
        self.changed.set()

    @property
    def transcript(self) -> str:
        rows = self.screen.display[: self.screen.cursor.y]
        return "\n".join(row.rstrip() for row in rows)

    @property
    def output(self) -> str:
        """Everything on screen, the cursor's line included."""
        return "\n".join(row.rstrip() for row in self.screen.display).rstrip()

    @property
    def line(self) -> str:
        return str(self.screen.display[self.screen.cursor.y]).rstrip()

    def type(self, line: str) -> None:
        os.write(self.master, (line + "\r").encode())

    def keys(self, *keys: str) -> None:
        """Press keys: names from KEYS, anything else typed as it is."""
        os.write(self.master, "".join(KEYS.get(k, k) for k in keys).encode())

    async def _until(self, found: object, within: float) -> None:
        async with asyncio.timeout(scaled(within)):
            while not found():  # type: ignore[operator]
                self.changed.clear()
                await self.changed.wait()

    async def expect(
        self, pattern: str, within: float = 10.0, anywhere: bool = False
    ) -> re.Match[str]:
        """Wait until the transcript after the last match (or `anywhere` in it) matches."""
        regex = re.compile(pattern, re.MULTILINE)
        match: re.Match[str] | None = None
        start = 0 if anywhere else self.pos

        def found() -> bool:
            nonlocal match
            match = regex.search(self.transcript, start)
            return match is not None

        try:
            await self._until(found, within)
        except TimeoutError:
            tail = self.transcript[start:]
            raise AssertionError(
                f"{pattern!r} never showed up in:\n{tail}\n[input line] {self.line}"
            ) from None
        assert match is not None
        self.pos = match.end()
        return match

    async def expect_line(self, pattern: str, within: float = 10.0) -> str:
        """Wait until the cursor's line (prompt and typing) matches `pattern`."""
        try:
            await self._until(lambda: re.search(pattern, self.line), within)
        except TimeoutError:
            raise AssertionError(f"input line {self.line!r} never matched {pattern!r}") from None
        return self.line

    async def exit_status(self, within: float = 10.0) -> int:
        return await asyncio.to_thread(self.proc.wait, scaled(within))

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=scaled(5))
        with contextlib.suppress(ValueError, OSError):
            asyncio.get_running_loop().remove_reader(self.master)
        with contextlib.suppress(OSError):
            os.close(self.master)

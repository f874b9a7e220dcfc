"""Drive a command-line program through a pseudo-terminal, as a person at a keyboard would."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pty
import re
import signal
import subprocess
from collections.abc import Mapping, Sequence

from tests.conftest import scaled


class Terminal:
    """A program running on a pty: `type()` lines into it, `expect()` what it prints."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], cwd: str) -> None:
        master, slave = pty.openpty()
        self.proc = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )
        os.close(slave)
        self.master = master
        self.output = ""  # everything printed so far
        self.pos = 0  # where the next expect() starts looking
        self.changed = asyncio.Event()
        asyncio.get_running_loop().add_reader(master, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: the program exited and the pty closed
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(self.master)
        self.output += data.decode(errors="replace").replace("\r\n", "\n")
        self.changed.set()

    def type(self, line: str) -> None:
        os.write(self.master, (line + "\n").encode())

    async def expect(self, pattern: str, within: float = 10.0) -> re.Match[str]:
        """Wait until the output (after the last match) matches `pattern`."""
        regex = re.compile(pattern, re.MULTILINE)
        try:
            async with asyncio.timeout(scaled(within)):
                while not (match := regex.search(self.output, self.pos)):
                    self.changed.clear()
                    await self.changed.wait()
        except TimeoutError:
            tail = self.output[self.pos :]
            raise AssertionError(f"{pattern!r} never showed up in:\n{tail}") from None
        self.pos = match.end()
        return match

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

"""The terminal chat's input line, on prompt_toolkit.

A prompt that names the current room (and says when the connection is down), line
editing, input history (up/down arrows), Tab completion of /commands and room names.
Incoming lines are printed above the line being typed (`patch_stdout`), so a message
arriving mid-sentence never breaks what you type.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.shortcuts import CompleteStyle
from prompt_toolkit.styles import Style

from client.chat.commands import ARG_VERBS, ROOM_VERBS, VERBS
from client.chat.state import ChatState

STYLE = Style.from_dict({"room": "bold", "offline": "ansired"})


class ChatCompleter(Completer):
    """`/jo` -> `/join`; `/leave g` -> `/leave general` (rooms you are in; /join also
    offers rooms you were in this session)."""

    def __init__(self, state: ChatState) -> None:
        self.state = state

    def get_completions(self, document: Document, event: CompleteEvent) -> Iterator[Completion]:
        text = document.text_before_cursor
        if not text.startswith("/"):
            return
        verb, space, arg = text[1:].partition(" ")
        if not space:
            for name in VERBS:
                if name.startswith(verb.lower()):
                    tail = " " if name in ARG_VERBS else ""
                    yield Completion(f"/{name}{tail}", start_position=-len(text), display=name)
            return
        if verb.lower() not in ROOM_VERBS or " " in arg:
            return
        rooms = set(self.state.rooms)
        if verb.lower() == "join":
            rooms |= self.state.known_rooms
        typed = arg.lstrip("#")
        for room in sorted(rooms):
            if room.startswith(typed):
                yield Completion(room, start_position=-len(typed))


def prompt_message(state: ChatState, online: Callable[[], bool]) -> StyleAndTextTuples:
    """`#general> `, `(offline) #general> `, or `> ` before any room is joined."""
    parts: StyleAndTextTuples = []
    if not online():
        parts.append(("class:offline", "(offline) "))
    if state.current:
        parts.append(("class:room", f"#{state.current}"))
    parts.append(("", "> "))
    return parts


def make_session(state: ChatState, online: Callable[[], bool]) -> PromptSession[str]:
    return PromptSession(
        message=lambda: prompt_message(state, online),
        completer=ChatCompleter(state),
        complete_style=CompleteStyle.READLINE_LIKE,  # Tab, as in a shell
        history=InMemoryHistory(),
        style=STYLE,
        # A sent line is not left on screen: the service's echo of it is the record.
        erase_when_done=True,
    )


async def read_prompt(session: PromptSession[str], inbox: asyncio.Queue[str | None]) -> None:
    """Feed typed lines to `inbox`; None on Ctrl-D or Ctrl-C (the chat then quits)."""
    while True:
        try:
            line = await session.prompt_async()
        except (EOFError, KeyboardInterrupt):
            inbox.put_nowait(None)
            return
        if line.startswith("/") and not line.startswith("//"):
            print(f"> {line}")  # a command stays visible above what it printed
        inbox.put_nowait(line)


def redraw(session: PromptSession[str]) -> Callable[[], None]:
    """A callback that redraws the prompt (its room or connection changed)."""

    def invalidate() -> None:
        if session.app.is_running:
            session.app.invalidate()

    return invalidate

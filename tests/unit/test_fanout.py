"""FanOut over its sender: outcomes sorted into delivered, gone and failed (with why),
and the invocation's deadline passed down as the question asked before every POST.
(The sender itself is tested against the real local gateway:
tests/integration/gateway/test_mgmt_sender.py.)"""

from __future__ import annotations

from collections.abc import Callable, Collection

from handlers.chat.fanout import DEADLINE_MARGIN_MS, Deliveries, FanOut
from handlers.chat.management_api import NOT_STARTED, Posted


class ScriptedSender:
    """Answers each connection id with the error scripted for it (None: delivered)."""

    def __init__(self, errors: dict[str, str | None]) -> None:
        self.errors = errors
        self.calls: list[tuple[list[str], bytes, int | None]] = []
        self.time_left: Callable[[], float] | None = None

    def post_many(
        self,
        connection_ids: Collection[str],
        data: bytes,
        *,
        concurrency: int | None = None,
        time_left: Callable[[], float] | None = None,
    ) -> list[Posted]:
        self.calls.append((list(connection_ids), data, concurrency))
        self.time_left = time_left
        return [Posted(c, self.errors.get(c)) for c in connection_ids]


def test_gone_and_failed_recipients_are_reported_and_the_rest_delivered() -> None:
    sender = ScriptedSender(
        {"b=": "GoneException", "c=": "PayloadTooLargeException", "e=": "ReadTimeoutError"}
    )
    result = FanOut(sender, concurrency=7).deliver(["a=", "b=", "c=", "d=", "e="], "hé")
    assert (result.delivered, result.gone, result.failed) == (2, ["b="], 2)
    assert result.errors == {"PayloadTooLargeException": 1, "ReadTimeoutError": 1}
    assert sender.calls == [(["a=", "b=", "c=", "d=", "e="], "hé".encode(), 7)]


def test_nothing_to_deliver_makes_no_call() -> None:
    sender = ScriptedSender({})
    assert FanOut(sender, concurrency=4).deliver([], "x").delivered == 0
    assert sender.calls == []


def test_posts_may_start_only_while_more_than_the_margin_is_left() -> None:
    left = [DEADLINE_MARGIN_MS + 1]
    sender = ScriptedSender({})
    FanOut(sender, concurrency=1, remaining_ms=lambda: left[0]).deliver(["a="], "x")
    assert sender.time_left is not None and sender.time_left() == 0.001
    left[0] = DEADLINE_MARGIN_MS - 500
    assert sender.time_left() == -0.5
    # Without a context (tests, scripts) nothing is cut short.
    FanOut(sender, concurrency=1).deliver(["a="], "x")
    assert sender.time_left is None


def test_skipped_recipients_count_as_failed_and_merge_adds_up() -> None:
    sender = ScriptedSender({"a=": NOT_STARTED, "b=": NOT_STARTED})
    first = FanOut(sender, concurrency=2).deliver(["a=", "b="], "x")
    assert (first.failed, first.errors) == (2, {NOT_STARTED: 2})
    total = Deliveries(delivered=3, errors={NOT_STARTED: 1, "ForbiddenException": 1})
    total.merge(first)
    assert (total.delivered, total.failed, total.errors) == (
        3,
        2,
        {NOT_STARTED: 3, "ForbiddenException": 1},
    )

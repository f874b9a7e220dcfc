"""Frames of one connection are handled concurrently (gateway-spec item 17), so two of
them can both find the rate-limit window expired and race to open the next one."""

from __future__ import annotations

from typing import Any

import boto3

from handlers.chat.model import User
from handlers.chat.settings import Settings
from handlers.chat.store import Store


def test_the_frame_that_loses_the_race_to_open_a_window_is_still_answered(aws: None) -> None:
    settings = Settings.from_env()
    user = User(id="alice", name="alice")
    t0 = 1_800_000_000_000
    next_window = t0 + settings.rate_window_s * 1000
    Store(boto3.client("dynamodb"), settings).put_connection("Conn00000000001=", user, t0)

    racing_client = boto3.client("dynamodb")
    update_item = racing_client.update_item
    calls = 0

    def update_while_another_frame_opens_the_window(**kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            # Frame B found the old window (call 1); frame A opens the new one now.
            Store(boto3.client("dynamodb"), settings).touch("Conn00000000001=", user, next_window)
        return update_item(**kwargs)

    racing_client.update_item = update_while_another_frame_opens_the_window  # type: ignore[method-assign]
    conn = Store(racing_client, settings).touch("Conn00000000001=", user, next_window)

    assert conn.user == user
    item = boto3.client("dynamodb").get_item(
        TableName=settings.connections_table,
        Key={"pk": {"S": "C#Conn00000000001="}, "sk": {"S": "META"}},
    )["Item"]
    assert item["rlc"] == {"N": "2"}  # both frames counted against the new window

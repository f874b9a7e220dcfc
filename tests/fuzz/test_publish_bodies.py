"""Hypothesis-generated publish requests through the publish handler (functional tier).

Whatever the body and room, the answer is 202, 400 or 413 with a JSON body, never a
500; an accepted message reaches the room's members exactly as stored, and a refused one
reaches nobody.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from tests.functional.conftest import Gateway
from tests.functional.test_publish import publish
from tests.fuzz.profiles import fuzz
from tests.fuzz.test_handler_frames import any_text, json_values, rooms, truncated_json
from tests.wire import ERROR_CODES

FEED = "feed:fuzz"

bodies = st.one_of(
    st.fixed_dictionaries(
        {}, optional={"text": st.one_of(any_text, json_values), "data": json_values}
    ).map(json.dumps),
    json_values.map(json.dumps),
    truncated_json,
    st.text(max_size=30),
)


@fuzz(30)
@given(body=bodies, room=st.one_of(st.just(FEED), rooms), b64=st.booleans())
@example(body='{"data": NaN}', room=FEED, b64=False)
@example(body='{"text": "\\udc00"}', room=FEED, b64=True)
@example(body='{"text": "x"}', room="feed:\udc00", b64=False)
def test_any_publish_request_is_answered_and_only_accepted_ones_are_delivered(
    publishing: Gateway, body: str, room: Any, b64: bool
) -> None:
    gw = publishing
    reader = gw.connect("reader")
    gw.send(reader, action="join", room=FEED)
    gw.take(reader)
    status, answer = publish(str(room), body, b64=b64)
    delivered = gw.take(reader)
    gw.disconnect(reader)
    assert status in (202, 400, 413), (status, answer)
    if status != 202:
        assert answer["code"] in ERROR_CODES and answer["message"], answer
        assert delivered == []
        return
    assert isinstance(answer["id"], str)
    if room == FEED:
        assert [f["id"] for f in delivered] == [answer["id"]]
        assert answer["delivered"] == 1
    else:
        assert delivered == []

"""Message ids sort in time order as strings and never repeat."""

from __future__ import annotations

from handlers.chat import ids


def test_ids_sort_in_time_order_as_strings() -> None:
    made = [ids.new_id(1_700_000_000_000 + step) for step in (0, 1, 2, 1000, 86_400_000)]
    assert made == sorted(made)
    assert all(ids.is_id(i) for i in made)


def test_ids_within_one_millisecond_keep_their_order_and_differ() -> None:
    made = [ids.new_id(1_700_000_000_000) for _ in range(1000)]
    assert made == sorted(made) and len(set(made)) == 1000


def test_timestamp_round_trips() -> None:
    assert ids.timestamp_ms(ids.new_id(1_795_255_200_123)) == 1_795_255_200_123


def test_is_id_refuses_lookalikes() -> None:
    good = ids.new_id()
    for bad in ("", good[:-1], good + "0", good.lower(), "I" + good[1:], 12, None, "Z" + good[1:]):
        assert not ids.is_id(bad)


def test_predecessor_and_successor_are_the_neighbouring_ids() -> None:
    made = ids.new_id(1_795_255_200_000)
    below, above = ids.predecessor(made), ids.successor(made)
    assert below is not None and above is not None
    assert below < made < above
    assert ids.is_id(below) and ids.is_id(above)
    assert ids.successor(below) == made and ids.predecessor(above) == made
    assert ids.predecessor("0" * 26) is None  # nothing sorts below the first id
    assert ids.successor("7" + "Z" * 25) is None  # nor above the last
